"""The embedded default: a local transformers model (the converted SmolLM2). torch is imported lazily."""

from __future__ import annotations

import functools
import json
import threading
from pathlib import Path
from typing import Any

from config.errors import SelftuneError
from skills.providers.base import ChatResult, ProviderUnavailable, TokenSink
from skills.providers.degenerate import Decoding, GuardedStream, trimmed

TOOLS_PREAMBLE = (
    "You can call these tools. To call one, answer only with "
    '<tool_call>{"name": "<tool name>", "arguments": {...}}</tool_call>\nTools:\n'
)
generate_lock = threading.RLock()  # one generation at a time: 2 shared cores, and the model is not re-entrant


@functools.lru_cache(maxsize=2)
def _load(name: str, models_dir: str, allow_download: bool = False) -> tuple[Any, Any]:
    from skills.models import load_model

    return load_model(name, Path(models_dir), allow_download=allow_download)


def render_messages(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> list[dict[str, str]]:
    """Plain ChatML messages: tool schemas go into the system prompt, tool calls become text blocks."""
    rendered = []
    for message in messages:
        content = message.get("content") or ""
        for call in message.get("tool_calls") or []:
            fn = call.get("function", call)
            content += "<tool_call>" + json.dumps({"name": fn["name"], "arguments": fn.get("arguments", {})}) + "</tool_call>"
        rendered.append({"role": message["role"], "content": content})
    if tools:
        listing = "\n".join(json.dumps(t["function"], ensure_ascii=False) for t in tools)
        if rendered and rendered[0]["role"] == "system":
            rendered[0] = {"role": "system", "content": rendered[0]["content"] + "\n\n" + TOOLS_PREAMBLE + listing}
        else:
            rendered.insert(0, {"role": "system", "content": TOOLS_PREAMBLE + listing})
    return rendered


def token_streamer(tokenizer: Any, on_token: TokenSink) -> Any:
    """A transformers streamer that hands each finished word of the answer (not the prompt) to `on_token`."""
    from transformers import TextStreamer

    class Sink(TextStreamer):
        def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
            if text:
                on_token(text)

    return Sink(tokenizer, skip_prompt=True, skip_special_tokens=True)


class LocalProvider:
    """Generate with transformers on this machine; tool calls come back as text for the router to recover."""

    name = "local"

    def __init__(self, model: str, models_dir: Path, timeout_s: float = 60.0, max_new_tokens: int = 256,
                 allow_download: bool = False, decoding: Decoding | None = None):
        self.decoding = decoding  # None: greedy and unpenalised, no loop guard (evaluation, judges)
        self.model_name = model
        self.models_dir = models_dir
        self.allow_download = allow_download
        self.timeout_s = timeout_s
        self.max_new_tokens = max_new_tokens

    def load(self) -> tuple[Any, Any]:
        """The (model, tokenizer) pair, loaded once per process."""
        try:
            return _load(self.model_name, str(self.models_dir), self.allow_download)
        except SelftuneError as exc:
            raise ProviderUnavailable(f"The local model '{self.model_name}' cannot be loaded: {exc}") from None

    def chat(
        self,
        messages: list[dict[str, Any]],
        *,
        tools: list[dict[str, Any]] | None = None,
        max_tokens: int | None = None,
        temperature: float = 0.0,
        on_token: TokenSink | None = None,
    ) -> ChatResult:
        """Generate a reply; max_time bounds the generation by the configured timeout.

        With `on_token` and no tools, words are handed over as generate() produces them (in this thread)."""
        import torch

        model, tokenizer = self.load()
        prompt = tokenizer.apply_chat_template(
            render_messages(messages, tools), add_generation_prompt=True, tokenize=False
        )
        inputs = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
        sampling: dict[str, Any] = {"do_sample": True, "temperature": temperature} if temperature > 0 else {"do_sample": False}
        guard = self.decoding.guard(on_token if not tools else None) if self.decoding is not None else None
        if on_token is not None and not tools:
            sampling["streamer"] = token_streamer(tokenizer, guard or on_token)
        if self.decoding is not None:
            sampling.update(self._penalties(tokenizer, inputs["input_ids"].shape[1], guard))
        with generate_lock, torch.inference_mode():
            output = model.generate(
                **inputs, max_new_tokens=max_tokens or self.max_new_tokens, max_time=self.timeout_s,
                pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id, **sampling,
            )
        new_tokens = output[0, inputs["input_ids"].shape[1]:]
        text = tokenizer.decode(new_tokens, skip_special_tokens=True).strip()
        return trimmed(ChatResult(text=text, model=self.model_name), self.decoding)

    def _penalties(self, tokenizer: Any, prompt_len: int, guard: GuardedStream) -> dict[str, Any]:
        """generate() arguments of the configured repetition control, and a stop at a loop or role marker."""
        assert self.decoding is not None
        extra: dict[str, Any] = {"stopping_criteria": loop_stopper(tokenizer, prompt_len, guard)}
        if self.decoding.repetition_penalty != 1.0:
            extra["repetition_penalty"] = self.decoding.repetition_penalty
        if self.decoding.no_repeat_ngram_size > 0:
            extra["no_repeat_ngram_size"] = self.decoding.no_repeat_ngram_size
        return extra


CHECK_EVERY = 4  # decode the answer so far every few tokens, not every token (it is re-decoded whole)


def loop_stopper(tokenizer: Any, prompt_len: int, guard: GuardedStream) -> Any:
    """A StoppingCriteriaList that ends generate() once the answer loops or reaches a stop sequence."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    class LoopStop(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            new = input_ids.shape[1] - prompt_len
            if not guard.stopped and guard.sink is None and new % CHECK_EVERY == 0:
                guard(tokenizer.decode(input_ids[0, prompt_len:], skip_special_tokens=True)[len(guard.text):])
            return torch.full((input_ids.shape[0],), guard.stopped, dtype=torch.bool, device=input_ids.device)

    return StoppingCriteriaList([LoopStop()])


def seed_sampling(seed: int) -> None:
    """Make the local model's sampled answers repeatable from here on (a simulated day: same seed, same chat)."""
    import torch

    torch.manual_seed(seed)
