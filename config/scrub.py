"""The one scrubber: secrets and personal data → placeholders, before text is logged, embedded or trained on.

Used by dataset conversion, conversation harvesting, memory indexing and log redaction, so a pattern
added here protects all of them. Besides secret shapes it removes the secrets selftune itself was given
(its Discord token, API keys, MCP token) by value: `remember_secrets` is called wherever settings are
loaded or selftune.db is opened, so a configured key pasted into chat is never stored or logged.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict

# Order matters: secrets first, so a key that contains digits is never half-eaten as a phone number.
SECRET_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("discord_token", re.compile(r"\b[MNO][A-Za-z\d_-]{23,27}\.[A-Za-z\d_-]{6}\.[A-Za-z\d_-]{27,40}\b")),
    ("api_key", re.compile(
        r"\b(?:sk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}|(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{16,}"
        r"|gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,}"
        r"|hf_[A-Za-z0-9]{30,}|(?:AKIA|ASIA)[0-9A-Z]{16}|xox[abprs]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{35})\b")),
    ("credential", re.compile(r"(?i)\b(?:password|passwd|api[_-]?key|secret|token)\s*[:=]\s*\S+")),
]
PII_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("email", re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")),
    ("ip", re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b")),
    ("phone", re.compile(r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?)?\d{2,4}(?:[ .-]\d{2,4}){1,4}(?!\w)")),
    ("mention", re.compile(r"<@[!&]?\d+>")),  # Discord mentions carry user ids
]
PATTERNS = SECRET_PATTERNS + PII_PATTERNS
PLACEHOLDER = {"known_secret": "[SECRET]", "email": "[EMAIL]", "phone": "[PHONE]", "api_key": "[API_KEY]", "discord_token": "[DISCORD_TOKEN]",
               "credential": "[SECRET]", "ip": "[IP]", "mention": "[USER]"}


# Shorter configured values are not scrubbed from text: they would also match ordinary words.
MIN_KNOWN_SECRET = 8
_known_secrets: tuple[str, ...] = ()  # longest first, so a secret containing another is replaced whole
_known_lock = threading.Lock()


def remember_secrets(values: Iterable[str | None]) -> None:
    """Add configured secret values to those scrubbed by value in this process (for its whole life)."""
    global _known_secrets
    fresh = {v for v in values if v and len(v) >= MIN_KNOWN_SECRET}
    with _known_lock:
        if fresh - set(_known_secrets):
            _known_secrets = tuple(sorted({*_known_secrets, *fresh}, key=len, reverse=True))


def known_secrets() -> tuple[str, ...]:
    """The configured secret values remembered so far (longest first)."""
    return _known_secrets


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


def scrub_text(text: str, patterns: list[tuple[str, re.Pattern[str]]] = PATTERNS) -> tuple[str, list[Finding]]:
    """Replace known secrets, PII and secret shapes with placeholders; returns the clean text and what was removed."""
    findings: list[Finding] = []
    text = _without_known_secrets(text, findings)
    for kind, pattern in patterns:
        def replace(match: re.Match[str], kind: str = kind) -> str:
            if kind == "phone" and not _is_phone(match.group()):
                return match.group()
            findings.append(Finding(kind=kind, start=match.start(), end=match.end(), preview=_mask(kind, match.group())))
            return PLACEHOLDER[kind]

        text = pattern.sub(replace, text)
    return text, findings


def _without_known_secrets(text: str, findings: list[Finding] | None = None) -> str:
    """Every remembered configured secret replaced by [SECRET], wherever it appears in the text."""
    for secret in _known_secrets:
        start = text.find(secret)
        while start >= 0:
            if findings is not None:
                findings.append(Finding(kind="known_secret", start=start, end=start + len(secret),
                                        preview="***"))
            text = text[:start] + PLACEHOLDER["known_secret"] + text[start + len(secret):]
            start = text.find(secret, start + len(PLACEHOLDER["known_secret"]))
    return text


def scrub_secrets(text: str) -> str:
    """Known secrets and secret shapes replaced by placeholders, personal data left (what the log stores)."""
    return scrub_text(text, SECRET_PATTERNS)[0]


def scrub(text: str) -> str:
    """The clean text alone (for harvesting and indexing, where findings are not reported)."""
    return scrub_text(text)[0]


def redact_secrets(text: str, replacement: str) -> str:
    """Known secrets and secret-shaped strings (tokens, keys, credentials) replaced; personal data left (for logs)."""
    for secret in _known_secrets:
        text = text.replace(secret, replacement)
    for _, pattern in SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text
