"""Pairwise LLM judge with position swapping, a win rate with a Wilson confidence interval, and the judge's own
calibration: how often it picks the answer shown first and how often its two orders agree. A judge beyond
eval.judge_max_position_bias or eval.judge_max_disagreement is marked unreliable and the gate leaves it out.

Two kinds of judge: a text judge (any chat provider; its reply's A/B/TIE) and a log-probability judge (a model this
process holds: P("A") against P("B") for the verdict's first token, averaged over both orders)."""

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


POINTS = {"A": 1.0, "B": 0.0, "TIE": 0.5}  # how much a verdict favours the answer shown first


def _ask(judge: Any, prompt: list[dict[str, Any]], first: str, second: str) -> float:
    """How much the judge prefers the first answer: 1, 0 or 0.5 from a text verdict; P(A)/(P(A)+P(B)) from a
    log-probability judge."""
    messages = _render(prompt, first, second)
    if hasattr(judge, "first_probability"):
        return float(judge.first_probability(messages))
    result = judge.chat(messages, max_tokens=8, temperature=0.0)
    return POINTS[parse_verdict(getattr(result, "text", str(result)))]


def _verdict_of(first: float) -> str:
    return "A" if first > 0.5 else "B" if first < 0.5 else "TIE"


def score_pair(judge: Any, prompt: list[dict[str, Any]], candidate: str, other: str) -> tuple[float, list[float]]:
    """Ask twice with the answers swapped: the candidate's score averages both orders (a text judge: 1 won both,
    0 lost both, 0.5 split or tied), and the judge's preference for the first-shown answer in each order."""
    forward = _ask(judge, prompt, candidate, other)  # candidate shown as A
    backward = _ask(judge, prompt, other, candidate)  # candidate shown as B
    return (forward + (1.0 - backward)) / 2, [forward, backward]


def wilson_interval(successes: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a proportion (ties count as half a success)."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def judge_pairs(judge: Any, prompts: list[list[dict[str, Any]]], candidate: list[str], other: list[str]) -> dict[str, Any]:
    """Win rate of the candidate over `other` with a 95% interval, per-item scores and order-bias stats."""
    scores, firsts = [], []
    for prompt, cand, oth in zip(prompts, candidate, other, strict=True):
        try:
            score, pair = score_pair(judge, prompt, cand, oth)
        except SelftuneError:
            raise
        except Exception as exc:  # an HTTP or client failure: one sentence, not a traceback
            raise SelftuneError(f"The judge failed ({type(exc).__name__}: {exc}); check [judge] in selftune.toml.") from None
        scores.append(score)
        firsts.append(pair)
    n = len(scores)
    win_rate = sum(scores) / n if n else 0.0
    low, high = wilson_interval(sum(scores), n)
    return {
        "win_rate": round(win_rate, 4), "ci95": [round(low, 4), round(high, 4)], "n": n,
        "wins": sum(s > 0.5 for s in scores), "losses": sum(s < 0.5 for s in scores),
        "ties": sum(s == 0.5 for s in scores), "scores": scores,
        **(_probability_stats(firsts) if hasattr(judge, "first_probability") else _text_stats(firsts)),
    }


def _text_stats(firsts: list[list[float]]) -> dict[str, Any]:
    verdicts = [[_verdict_of(p) for p in pair] for pair in firsts]
    return {**position_stats(verdicts), "verdicts": verdicts}


def _probability_stats(firsts: list[list[float]]) -> dict[str, Any]:
    """A log-probability judge's constant lean toward one position (its mean P(first)) cancels in the score, which
    averages both orders; so its verdicts are read against that lean, and what can make it unreliable is orders
    that still disagree once the lean is taken out. Its raw first-position rate and lean are reported beside."""
    flat = [p for pair in firsts for p in pair]
    lean = sum(flat) / len(flat) if flat else 0.5
    verdicts = [[_verdict_of(p - lean + 0.5) for p in pair] for pair in firsts]
    raw = [p for p in flat if p != 0.5]
    return {**position_stats(verdicts), "verdicts": verdicts, "first_probabilities": firsts,
            "position_lean": round(lean, 4), "raw_first_position_rate": round(sum(p > 0.5 for p in raw) / len(raw), 4)
            if raw else None}


def position_stats(verdicts: list[list[str]]) -> dict[str, Any]:
    """The judge's first-position rate (share of its decided verdicts that chose the answer shown first; None when
    it decided none), its decided share, and the share of pairs whose two orders agree (same answer preferred, or a
    tie both times)."""
    decided = [v for pair in verdicts for v in pair if v != "TIE"]
    agree = sum((f, b) in {("A", "B"), ("B", "A"), ("TIE", "TIE")} for f, b in verdicts)
    n = len(verdicts)
    return {"first_position_rate": round(decided.count("A") / len(decided), 4) if decided else None,
            "decided": round(len(decided) / (2 * n), 4) if n else 0.0,
            "order_agreement": round(agree / n, 4) if n else 0.0}


def calibrate(result: dict[str, Any], max_position_bias: float, max_disagreement: float) -> dict[str, Any]:
    """`result` with `reliable` and, when not, `unreliable_reason`: a judge that decides no pair, prefers one
    position beyond `max_position_bias` (|first-position rate − 50%|) or whose two orders disagree on more than
    `max_disagreement` of the pairs tells the gate nothing about the answers."""
    first, agreement = result.get("first_position_rate"), result.get("order_agreement", 1.0)
    reason = None
    if first is None:
        reason = "it preferred neither answer in any judgement"
    elif abs(first - 0.5) > max_position_bias:
        reason = (f"it chose the answer shown first in {first:.0%} of its verdicts (allowed "
                  f"{0.5 - max_position_bias:.0%}–{0.5 + max_position_bias:.0%}, eval.judge_max_position_bias)")
    elif 1 - agreement > max_disagreement:
        reason = (f"its two orders disagreed on {1 - agreement:.0%} of the pairs (allowed {max_disagreement:.0%}, "
                  "eval.judge_max_disagreement)")
    return {**result, "reliable": reason is None, **({"unreliable_reason": reason} if reason else {})}
