"""Format adherence: the share of answers that follow a persona card's style rules."""

from __future__ import annotations

import json
from typing import Any

from skills.personas import StyleChecks


def check_answer(text: str, style: StyleChecks) -> list[str]:
    """The rules one answer breaks (empty when it follows all of them)."""
    problems: list[str] = []
    lowered = text.lower()
    if style.any_of and not any(marker.lower() in lowered for marker in style.any_of):
        problems.append(f"none of the markers {style.any_of}")
    if len(text) > style.max_chars:
        problems.append(f"longer than {style.max_chars} characters")
    if style.must_be_json and not _is_json(text):
        problems.append("not valid JSON")
    return problems


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def adherence(texts: list[str], style: StyleChecks) -> dict[str, Any]:
    """Percentage of answers following the style, plus the first few failures for the report."""
    checked = [check_answer(t, style) for t in texts]
    failures = [(i, p) for i, p in enumerate(checked) if p]
    rate = 100.0 * (len(texts) - len(failures)) / len(texts) if texts else 0.0
    return {
        "percent": round(rate, 2),
        "passes_rule_of_thumb": rate > 95.0,
        "failures": [{"item": i, "problems": p} for i, p in failures[:5]],
        "items": [not p for p in checked],  # per answer, in order: what the gate compares item by item
    }
