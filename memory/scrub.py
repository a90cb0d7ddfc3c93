"""Fallback scrubber for harvested text, used until `skills.dataset.scrub.scrub_text` is available.

Secrets and personal data are replaced by placeholders before anything becomes training data.
"""

from __future__ import annotations

import re

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\b[MN][A-Za-z\d_-]{23,27}\.[A-Za-z\d_-]{6}\.[A-Za-z\d_-]{27,40}\b"), "[SECRET]"),  # Discord token
    (re.compile(r"\b(?:sk|pk|rk|ghp|gho|xox[abp])[-_][A-Za-z0-9_-]{16,}\b"), "[SECRET]"),  # API keys
    (re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"), "[SECRET]"),  # AWS access key id
    (re.compile(r"(?i)\b(password|passwd|token|secret|api[_-]?key)(\s*[:=]\s*)\S+"), r"\1\2[SECRET]"),
    (re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b"), "[EMAIL]"),
    (re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b"), "[IP]"),
    (re.compile(r"<@[!&]?\d+>"), "[USER]"),
]


_MENTION = re.compile(r"<@[!&]?\d+>")  # Discord mentions carry user ids
_PHONE = re.compile(r"(?<!\w)\+?\d[\d ().-]{7,}\d(?!\w)")


def _phone(match: re.Match[str]) -> str:
    # Dates and times are digit runs too; a phone number has at least 10 digits.
    return "[PHONE]" if sum(c.isdigit() for c in match.group()) >= 10 and "-" not in match.group()[4:5] else match.group()


def scrub_text(text: str) -> str:
    """Replace secrets, e-mail addresses, phone numbers, IPs and user mentions with placeholders."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return _PHONE.sub(_phone, text)


def scrub(text: str) -> str:
    """Scrub with the datasets area's scrubber when present (it also reports findings), else this module's."""
    try:
        from skills.dataset.scrub import scrub_text as shared
    except ImportError:
        return scrub_text(text)
    return _MENTION.sub("[USER]", shared(text)[0])
