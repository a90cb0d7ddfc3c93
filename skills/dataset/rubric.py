"""A 1-5 rubric score for one answer from the configured judge (best-of-n synthesis keeps the better answer)."""

from __future__ import annotations

import re
from typing import Any

# a digit 1-5 that is not part of a larger or decimal number ("10", "4.5"); a sentence's full stop may follow
SCORE = re.compile(r"score\W{0,3}([1-5])(?!\.?\d)", re.I)
OUT_OF_FIVE = re.compile(r"(?<!\d)(?<!\d\.)([1-5])\s*(?:/|out of)\s*5\b", re.I)
BARE = re.compile(r"(?<!\d)(?<!\d\.)([1-5])(?!\.?\d)")


def parse_score(text: str) -> int | None:
    """The judge's 1-5 score: 'Score: 4', '4/5', '4 out of 5' or a lone digit; None when there is none."""
    for pattern in (SCORE, OUT_OF_FIVE, BARE):
        match = pattern.search(text)
        if match:
            return int(match.group(1))
    return None


def rubric_messages(rubric: str, question: str, answer: str, persona: str = "") -> list[dict[str, str]]:
    """The judge's prompt: the rubric (with a persona-fit rule when a persona is given), the question, the answer."""
    rule = (f"\nThe answer should also speak as this persona; take points off when it does not:\n{persona.strip()}"
            if persona.strip() else "")
    return [{"role": "system", "content": rubric.format(persona_rule=rule).strip()},
            {"role": "user", "content": f"## Question\n{question}\n\n## Answer\n{answer}\n\nScore (1-5):"}]


def rubric_score(judge: Any, rubric: str, question: str, answer: str, persona: str = "") -> int | None:
    """Ask the judge (greedy, a few tokens) for one answer's 1-5 score; None when its reply holds no score."""
    result = judge.chat(rubric_messages(rubric, question, answer, persona), max_tokens=16, temperature=0.0)
    return parse_score(getattr(result, "text", str(result)))
