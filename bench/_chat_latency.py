"""Streamed chat latency on SmolLM2 (local transformers, CPU), measured in the long-running process with the
model already loaded (the bot loads it once): first token of a plain chat answer and the time for a 60-token
answer (targets < 2 s and < 8 s), beside the same message with every allowed tool put into the prompt (what
plain chat cost before tools were offered only for action-like messages). Also where the time goes: prompt
tokens per part (system prompt, persona, tool schemas) and the prefill time of each prompt."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.llm_turn import TurnLimits
from agent.router import Router
from agent.toolcalls import tools_schema
from config.messages import IncomingMessage
from config.settings import Settings
from skills.providers import chat_decoding
from skills.providers.base import ChatResult
from skills.providers.local import LocalProvider, render_messages

ANSWER_TOKENS = 60
QUESTION = "Tell me a long story about a ship and its crew."


@dataclass
class Timing:
    """One streamed answer: seconds to the first piece and to the end, and answer tokens."""

    first_s: float
    total_s: float
    tokens: int


class AllTools:
    """The local provider with every allowed tool in its prompt (the old plain-chat prompt)."""

    def __init__(self, inner: LocalProvider, tools: list[dict[str, Any]]) -> None:
        self.inner, self.tools, self.name = inner, tools, inner.name

    def chat(self, messages: list[dict[str, Any]], **kwargs: Any) -> ChatResult:
        """Answer with the tool schemas in the system prompt, streamed like a plain answer."""
        messages = render_messages(messages, self.tools)
        return self.inner.chat(messages, **kwargs)


def streamed(router: Router, tokenizer: Any, channel: str) -> Timing:
    """Send QUESTION through the router with on_token; time the first piece and the whole answer."""
    first: list[float] = []
    start = time.perf_counter()
    reply = router.handle(IncomingMessage(text=QUESTION, channel=channel),
                          on_token=lambda _piece: first or first.append(time.perf_counter()))
    total = time.perf_counter() - start
    router.sessions.clear()  # every run starts a fresh conversation (same prompt length)
    tokens = len(tokenizer(reply.text, add_special_tokens=False)["input_ids"])
    return Timing((first[0] if first else time.perf_counter()) - start, total, tokens)


def prompt_tokens(tokenizer: Any, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> int:
    """Tokens of the rendered chat prompt."""
    text = tokenizer.apply_chat_template(render_messages(messages, tools), add_generation_prompt=True, tokenize=False)
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def run(home: Path, runs: int) -> list[str]:
    """The latency lines (printed by bench/agent.py)."""
    settings = Settings(home=home)
    settings.llm.max_new_tokens = ANSWER_TOKENS
    # With the chat answers' repetition control (penalties, no-repeat n-grams, loop guard), as the assistant runs.
    local = LocalProvider(settings.base_model, settings.models_dir, max_new_tokens=ANSWER_TOKENS,
                          decoding=chat_decoding(settings))
    model, tokenizer = local.load()  # loaded once, as in the running bot; not counted
    limits = TurnLimits(max_tokens=ANSWER_TOKENS)
    router = Router(settings, provider=local, limits=limits)
    every = tools_schema(list(router.registry.all()))
    old = Router(settings, registry=router.registry, provider=AllTools(local, every), limits=limits)  # type: ignore[arg-type]
    streamed(router, tokenizer, "warm")  # first call pays one-time kernel and cache set-up
    ours = [streamed(router, tokenizer, "bench") for _ in range(runs)]
    before = [streamed(old, tokenizer, "bench-old") for _ in range(max(1, runs // 2))]
    first, total = statistics.median(t.first_s for t in ours), statistics.median(t.total_s for t in ours)
    old_first = statistics.median(t.first_s for t in before)
    tokens = statistics.median(t.tokens for t in ours)
    system = router.session("parts").prompt_for(QUESTION).messages
    plain, with_tools = prompt_tokens(tokenizer, system, None), prompt_tokens(tokenizer, system, every)
    user_only = prompt_tokens(tokenizer, system[1:], None)
    return [
        f"SmolLM2 plain chat, model loaded, in-process: all {len(every)} tools offered {old_first:.2f} s | "
        f"first token {first:.2f} s (target < 2 s)",
        f"SmolLM2 plain chat, model loaded, in-process: {ANSWER_TOKENS}-token answer {total:.2f} s "
        f"({tokens:.0f} tokens, median of {runs}; target < 8 s)",
        f"SmolLM2 prompt tokens: message alone {user_only} | with system prompt {plain} | with all tool schemas "
        f"{with_tools} (recall off: no memory in this measurement; torch threads {_threads()})",
    ]


def _threads() -> int:
    import torch

    return torch.get_num_threads()
