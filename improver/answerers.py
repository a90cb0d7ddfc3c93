"""Who answers held-out prompts during evaluation: the local base model or an OpenAI-compatible server.

An answerer is `answer(system_prompt, prompts, seed) -> answers`. Repeats differ only by `seed`, so a
measurement is reproducible and its spread is the sampling noise.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from improver.eval_config import EvalConfig

Answerer = Callable[[str, list[str], int], list[str]]


def make_answerer(cfg: EvalConfig, adapter: Path | None = None) -> Answerer:
    """The answerer this evaluator configuration asks for; locally, the served adapter on the base model."""
    return _openai_answerer(cfg) if cfg.answerer == "openai" else _local_answerer(cfg, adapter)


def _local_answerer(cfg: EvalConfig, adapter: Path | None) -> Answerer:
    import torch

    from skills.models import load_model

    model, tokenizer = load_model(cfg.base_model, cfg.models_dir)
    if adapter is not None:  # answer as users are answered: the persona's served adapter on its base
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter)).eval()

    def answer(system: str, prompts: list[str], seed: int) -> list[str]:
        out = []
        for i, prompt in enumerate(prompts):
            messages = [{"role": "system", "content": system}, {"role": "user", "content": prompt}]
            text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            inputs = tokenizer(text, return_tensors="pt")
            torch.manual_seed(seed * 7919 + i)
            with torch.no_grad():
                ids = model.generate(**inputs, max_new_tokens=cfg.max_new_tokens, do_sample=cfg.temperature > 0,
                                     temperature=cfg.temperature or None, top_p=0.95 if cfg.temperature else None,
                                     pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id)
            out.append(tokenizer.decode(ids[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True))
        return out

    return answer


def _openai_answerer(cfg: EvalConfig) -> Answerer:
    import openai

    client = openai.OpenAI(base_url=cfg.answer_base_url, api_key="evaluator", timeout=30.0, max_retries=1)

    def answer(system: str, prompts: list[str], seed: int) -> list[str]:
        out = []
        for prompt in prompts:
            resp = client.chat.completions.create(
                model=cfg.answer_model, temperature=cfg.temperature, seed=seed, max_tokens=cfg.max_new_tokens,
                messages=[{"role": "system", "content": system}, {"role": "user", "content": prompt}],
            )
            out.append(resp.choices[0].message.content or "")
        return out

    return answer
