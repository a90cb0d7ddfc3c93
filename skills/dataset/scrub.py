"""Scrub whole dataset rows with the one scrubber in `config.scrub`, counting findings by kind."""

from __future__ import annotations

from collections import Counter
from typing import Any

from config.scrub import Finding, scrub_text

__all__ = ["Finding", "scrub_row", "scrub_text"]


def scrub_row(row: dict[str, Any], counts: Counter[str]) -> dict[str, Any]:
    """Scrub every message content of a canonical row (any kind); counts findings by kind."""
    out = dict(row)
    for key in ("messages", "prompt", "chosen", "rejected"):
        if isinstance(row.get(key), list):
            out[key] = [_scrub_message(m, counts) for m in row[key]]
    return out


def _scrub_message(msg: dict[str, Any], counts: Counter[str]) -> dict[str, Any]:
    if not isinstance(msg.get("content"), str):
        return msg
    clean, found = scrub_text(msg["content"])
    counts.update(f.kind for f in found)
    return {**msg, "content": clean}
