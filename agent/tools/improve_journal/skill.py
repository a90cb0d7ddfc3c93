"""improve.journal: the improvement journal, summarised."""

from __future__ import annotations

from typing import Any

from improver import journal
from skills.context import SkillContext


def improve_journal(days: float = 7.0, target: str | None = None, *, ctx: SkillContext) -> dict[str, Any]:
    """Summarise the improvement attempts of the last `days` days (optionally for one target)."""
    items = journal.entries(ctx.settings, target=target, since_days=days)
    return {"days": days, "summary": journal.summarize(items), "entries": [e.model_dump() for e in items]}
