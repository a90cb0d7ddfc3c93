"""PII and secret scrubber: replaces emails, phone numbers, API keys and Discord tokens with placeholders."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from pydantic import BaseModel, ConfigDict

# Order matters: secrets first, so a key that contains digits is never half-eaten as a phone number.
PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("discord_token", re.compile(r"\b[MNO][A-Za-z\d_-]{23,27}\.[A-Za-z\d_-]{6}\.[A-Za-z\d_-]{27,40}\b")),
    ("api_key", re.compile(
        r"\b(?:sk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}|gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,}"
        r"|hf_[A-Za-z0-9]{30,}|AKIA[0-9A-Z]{16}|xox[abprs]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{35})\b")),
    ("email", re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")),
    ("phone", re.compile(r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?)?\d{2,4}(?:[ .-]\d{2,4}){1,4}(?!\w)")),
]
PLACEHOLDER = {"email": "[EMAIL]", "phone": "[PHONE]", "api_key": "[API_KEY]", "discord_token": "[DISCORD_TOKEN]"}


class Finding(BaseModel):
    """One removed item: its kind, where it was and a masked preview (never the secret itself)."""

    model_config = ConfigDict(extra="forbid")
    kind: str
    start: int
    end: int
    preview: str


def _is_phone(text: str) -> bool:
    """Between 9 and 15 digits: long enough to be a phone number, not a year or a version."""
    digits = sum(c.isdigit() for c in text)
    return 9 <= digits <= 15


def _mask(kind: str, value: str) -> str:
    if kind == "email":
        user, _, domain = value.partition("@")
        return f"{user[:1]}***@{domain}"
    return f"{value[:3]}***"


def scrub_text(text: str) -> tuple[str, list[Finding]]:
    """Replace PII and secrets with placeholders; returns the clean text and what was removed."""
    findings: list[Finding] = []
    for kind, pattern in PATTERNS:
        def replace(match: re.Match[str], kind: str = kind) -> str:
            if kind == "phone" and not _is_phone(match.group()):
                return match.group()
            findings.append(Finding(kind=kind, start=match.start(), end=match.end(), preview=_mask(kind, match.group())))
            return PLACEHOLDER[kind]

        text = pattern.sub(replace, text)
    return text, findings


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
