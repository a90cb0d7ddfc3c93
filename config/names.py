"""Names that become folder or file names (persona, adapter, recipe, version): checked as names, never paths.

A name is 1-64 characters: lowercase letters, digits, '-' and '_', starting with a letter or digit, so it
can never hold '/', '..', a drive, a NUL or anything else a path could be made of; nor is it a device name
Windows reserves (con, nul, com1 ...). Entry points that create a name NFKC-normalise it first
(`normalize_name`: full-width 'ｐｉｒａｔｅ' is 'pirate'); invisible and right-to-left controls are refused
with their own sentence, since they make a name read differently from what it is.
"""

from __future__ import annotations

import re
import unicodedata

from config.errors import UsageError

NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
RULE = "use 1-64 lowercase letters, digits, '-' or '_', starting with a letter or digit"


RESERVED = frozenset({"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))})


def normalize_name(value: str) -> str:
    """A typed name as it is meant: NFKC-normalised (look-alike forms folded) and without surrounding spaces."""
    return unicodedata.normalize("NFKC", value).strip() if isinstance(value, str) else value


def _invisible(value: str) -> list[str]:
    """Format characters in value (zero-width spaces and joiners, bidi overrides and marks, BOM), as U+XXXX."""
    return [f"U+{ord(c):04X}" for c in value if unicodedata.category(c) == "Cf"]


def shown(value: object, limit: int = 80) -> str:
    """A value as it can safely appear in a one-line message (control characters escaped, long ones cut)."""
    text = value if isinstance(value, str) else repr(value)
    text = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def name_problem(value: object, kind: str = "name") -> str | None:
    """The one sentence explaining why `value` is not a valid name, or None when it is one."""
    if isinstance(value, str) and (hidden := _invisible(value)):
        return (f"'{shown(value)}' is not a valid {kind} name: it holds invisible or right-to-left control "
                f"characters ({', '.join(sorted(set(hidden)))}); {RULE}.")
    if isinstance(value, str) and NAME.fullmatch(value):
        if value in RESERVED:
            return f"'{value}' is not a valid {kind} name: Windows reserves it for a device; pick another name."
        return None
    return f"'{shown(value)}' is not a valid {kind} name; {RULE}."


def check_name(value: str, kind: str = "name") -> str:
    """Return `value` when it is a valid name; else raise UsageError with one sentence."""
    problem = name_problem(value, kind)
    if problem:
        raise UsageError(problem)
    return value


def check_names(**names: str | None) -> None:
    """Check several optional names at once: check_names(persona=p, recipe=r); None means not given."""
    for kind, value in names.items():
        if value is not None:
            check_name(value, kind)


def is_adapter_id(value: str) -> bool:
    """True for 'name' or 'name/version' where both parts are valid names (a registry id, not a path)."""
    parts = value.split("/")
    return 1 <= len(parts) <= 2 and all(NAME.fullmatch(p) for p in parts)


def check_adapter_id(value: str) -> str:
    """Return a registry adapter id ('pirate-lora' or 'pirate-lora/v2'); else raise UsageError."""
    if not is_adapter_id(value):
        raise UsageError(f"'{shown(value)}' is not an adapter id; write name or name/version, each part: {RULE}.")
    return value
