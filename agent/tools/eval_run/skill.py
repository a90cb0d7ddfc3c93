"""Skill eval.run: evaluate an adapter and return the report summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from skills.context import SkillContext


def run_eval(
    adapter: str, against: str = "base", data: str | None = None, persona: str | None = None,
    judge: bool = True, limit: int = 32, *, ctx: SkillContext,
) -> dict[str, Any]:
    """Evaluate an adapter against its base or another adapter; returns metrics, verdict and report paths."""
    from skills.evaluate.report import summary
    from skills.evaluate.run import evaluate_adapter

    doc = evaluate_adapter(
        ctx.settings, adapter, against=against, data=Path(data) if data else None, persona=persona,
        limit=limit, use_judge=judge, progress=ctx.report,
    )
    return summary(doc)
