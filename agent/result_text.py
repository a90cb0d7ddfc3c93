"""A skill result that carries no sentence of its own, said as one: chat replies never show raw JSON."""

from __future__ import annotations

import re
from typing import Any

MAX_CHARS = 500
SHA = re.compile(r"[0-9a-f]{40}")


def plain(value: Any) -> str:
    """One value as people read it: no None, no 17-digit floats, commits shortened."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    text = str(value)
    return text[:8] if SHA.fullmatch(text) else text


def readable(result: dict[str, Any]) -> str:
    """'Done: persona pirate, from pirate-lora/v2, to none, commit 3fa2c1d0.' (lists and tables stay out)."""
    parts = [f"{key.replace('_', ' ')} {plain(value)}" for key, value in result.items()
             if not isinstance(value, list | dict)]
    text = "Done" + (": " + ", ".join(parts) if parts else "") + "."
    return text if len(text) <= MAX_CHARS else text[:MAX_CHARS - 1] + "…"
