"""Improver fixtures: a scripted OpenAI-compatible answer server on 127.0.0.1 and evaluator configs.

The fake answers like a model that follows its system prompt more often the more it insists on the
persona's markers: P(marker) = 0.2 x (occurrences of "arr"/"matey" in the system prompt), +0.05 when it says
"please", and a 700-char ramble when it says "verbose"; told to "chant", it only chants markers (in style, but
no answer). Each answer is a deterministic function of (user prompt, seed), so baseline repeats differ
exactly like sampling noise would. Asked as the judge, it prefers an answer that answers, then one in style.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator

import pytest

from config.settings import Settings
from improver.eval_config import EvalConfig, from_settings
from tests.eval.fake_openai import ScriptedOpenAI

# Tests flip this to model a world that changed after an acceptance: prompts containing it stop working.
PENALIZED: list[str] = []


def fake_answer(system: str, user: str, seed: int) -> str:
    """What the scripted model says."""
    low = system.lower()
    if any(word in low for word in PENALIZED):
        return "Here is my answer."
    if "chant" in low:
        return "Arr matey arr matey arr!"
    p = min(1.0, 0.2 * (low.count("arr") + low.count("matey")) + (0.05 if "please" in low else 0.0))
    u = int(hashlib.sha256(f"{user}|{seed}".encode()).hexdigest()[:8], 16) / 2**32
    text = "Arr matey, here is my answer." if u < p else "Here is my answer."
    return text + (" and so on" * 70 if "verbose" in low else "")


_PAIR = re.compile(r"## Answer A\n(.*)\n\n## Answer B\n(.*)\n\nVerdict", re.S)


def fake_judge(first: str, second: str) -> str:
    """The scripted judge: an answer that answers beats one that does not; then the one in style wins."""
    def score(text: str) -> int:
        return 2 * ("my answer" in text.lower()) + any(m in text.lower() for m in ("arr", "matey"))
    a, b = score(first), score(second)
    return "A" if a > b else "B" if b > a else "TIE"


def _scripted_reply(body: dict) -> str:
    user = body["messages"][-1]["content"]
    pair = _PAIR.search(user)
    if pair:
        return fake_judge(pair.group(1), pair.group(2))
    system = next((m["content"] for m in body["messages"] if m["role"] == "system"), "")
    return fake_answer(system, user, int(body.get("seed") or 0))


@pytest.fixture
def answer_server() -> Iterator[str]:
    """Base URL of the scripted answer server (stopped after the test)."""
    with ScriptedOpenAI(_scripted_reply) as server:
        yield server.url
    PENALIZED.clear()


@pytest.fixture
def eval_cfg(settings: Settings, answer_server: str) -> EvalConfig:
    """Evaluator config: scripted answers and judge, 3 repeats x 16 prompts, a short training run for recipes."""
    return from_settings(settings, **scripted_overrides(answer_server))


def scripted_overrides(answer_server: str) -> dict:
    """The evaluator settings that point answers and the judge at the scripted server (also for evaluator.toml)."""
    return {"answerer": "openai", "answer_base_url": answer_server, "judge_provider": "openai",
            "judge_base_url": answer_server, "repeats": 3, "train_steps": 15, "allow_code_paths": ["plugins/*.py"],
            "bootstrap": 500}
