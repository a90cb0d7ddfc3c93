"""Greedy generation for eval samples, by the fastest local path: a llama.cpp server decoding every prompt in
parallel slots (when GGUFs exist), else batched torch with its KV cache (one left-padded batch)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

Messages = list[dict[str, Any]]


def prompt_of(row: Messages, system_prompt: str | None = None) -> Messages:
    """The conversation up to (not including) its last assistant turn; optionally a persona system prompt."""
    last = max(i for i, m in enumerate(row) if m.get("role") == "assistant")
    prompt = [m for m in row[:last]]
    if system_prompt and not any(m.get("role") == "system" for m in prompt):
        prompt.insert(0, {"role": "system", "content": system_prompt})
    return prompt


def reference_of(row: Messages) -> str:
    """The last assistant answer of a row (the reference the judge and samples show)."""
    return str([m for m in row if m.get("role") == "assistant"][-1].get("content", ""))


def generate_batch(model: Any, tokenizer: Any, prompts: list[Messages], *, max_new_tokens: int = 64) -> list[str]:
    """Greedy answers for all prompts in one left-padded batch."""
    import torch

    texts = [tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in prompts]
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"  # decoder-only: new tokens must follow each prompt directly
    try:
        enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    finally:
        tokenizer.padding_side = side
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                             pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
    new_tokens = out[:, enc["input_ids"].shape[1]:]
    return [t.strip() for t in tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]


def generate_one_by_one(model: Any, tokenizer: Any, prompts: list[Messages], *, max_new_tokens: int = 64) -> list[str]:
    """The naive loop (one `generate` per prompt); kept for the benchmark and as a reference."""
    return [generate_batch(model, tokenizer, [p], max_new_tokens=max_new_tokens)[0] for p in prompts]


def generate_served(client: Any, prompts: list[Messages], *, max_new_tokens: int = 64, model: str = "local") -> list[str]:
    """Greedy answers from an OpenAI-compatible local server, all requests in flight at once.

    llama.cpp's server decodes its parallel slots in one batch per step, so sending every prompt together
    is what makes it fast; answers come back in prompt order.
    """

    def one(prompt: Messages) -> str:
        reply = client.chat.completions.create(model=model, messages=prompt, max_tokens=max_new_tokens,
                                               temperature=0.0, seed=0)
        return (reply.choices[0].message.content or "").strip()

    if not prompts:
        return []
    with ThreadPoolExecutor(max_workers=len(prompts)) as pool:
        return list(pool.map(one, prompts))
