"""Pairwise LLM judge with position swapping, and a win rate with a Wilson confidence interval."""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path
from typing import Any, Protocol

from config.errors import SelftuneError
from config.settings import Settings

log = logging.getLogger(__name__)
PROMPT = (Path(__file__).with_name("judge_prompt.md")).read_text(encoding="utf-8")
VERDICT = re.compile(r"\b(A|B|TIE)\b")


class ChatProvider(Protocol):
    """The part of skills.providers' provider objects the judge uses."""

    def chat(self, messages: list[dict[str, Any]], *, tools: list[dict] | None = None,
             max_tokens: int | None = None, temperature: float = 0.0) -> Any: ...


def judge_provider(settings: Settings) -> ChatProvider:
    """The separately configured judge ([judge] in selftune.toml), never the model under test."""
    from skills.providers import get_provider

    return get_provider(settings, role="judge")


def _render(prompt: list[dict[str, Any]], first: str, second: str) -> list[dict[str, Any]]:
    convo = "\n".join(f"[{m.get('role')}] {m.get('content')}" for m in prompt)
    body = f"## Conversation\n{convo}\n\n## Answer A\n{first}\n\n## Answer B\n{second}\n\nVerdict (A, B or TIE):"
    return [{"role": "system", "content": PROMPT}, {"role": "user", "content": body}]


def parse_verdict(text: str) -> str:
    """'A', 'B' or 'TIE' from the judge's reply; anything unreadable counts as a tie."""
    match = VERDICT.search(text.strip().upper())
    return match.group(1) if match else "TIE"


def _ask(judge: ChatProvider, prompt: list[dict[str, Any]], first: str, second: str) -> str:
    result = judge.chat(_render(prompt, first, second), max_tokens=8, temperature=0.0)
    return parse_verdict(getattr(result, "text", str(result)))


def score_pair(judge: ChatProvider, prompt: list[dict[str, Any]], candidate: str, other: str) -> tuple[float, list[str]]:
    """Ask twice with the answers swapped; candidate's score 1 (won both), 0 (lost both) or 0.5."""
    forward = _ask(judge, prompt, candidate, other)  # candidate shown as A
    backward = _ask(judge, prompt, other, candidate)  # candidate shown as B
    points = {"A": 1.0, "B": 0.0, "TIE": 0.5}
    score = (points[forward] + (1.0 - points[backward])) / 2
    return score, [forward, backward]


def wilson_interval(successes: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a proportion (ties count as half a success)."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def judge_pairs(judge: ChatProvider, prompts: list[list[dict[str, Any]]], candidate: list[str], other: list[str]) -> dict[str, Any]:
    """Win rate of the candidate over `other` with a 95% interval, per-item scores and order-bias stats."""
    scores, verdicts = [], []
    for prompt, cand, oth in zip(prompts, candidate, other, strict=True):
        try:
            score, pair = score_pair(judge, prompt, cand, oth)
        except SelftuneError:
            raise
        except Exception as exc:  # an HTTP or client failure: one sentence, not a traceback
            raise SelftuneError(f"The judge failed ({type(exc).__name__}: {exc}); check [judge] in selftune.toml.") from None
        scores.append(score)
        verdicts.append(pair)
    n = len(scores)
    win_rate = sum(scores) / n if n else 0.0
    low, high = wilson_interval(sum(scores), n)
    first_shown = sum(v.count("A") for v in verdicts)
    return {
        "win_rate": round(win_rate, 4), "ci95": [round(low, 4), round(high, 4)], "n": n,
        "wins": sum(s == 1.0 for s in scores), "losses": sum(s == 0.0 for s in scores),
        "ties": sum(s == 0.5 for s in scores), "first_position_rate": round(first_shown / (2 * n), 4) if n else 0.0,
        "scores": scores, "verdicts": verdicts,
    }
