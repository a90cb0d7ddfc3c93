"""Skill eval.run: evaluate an adapter and return the report summary."""

from __future__ import annotations

from typing import Annotated, Any

from skills.context import SkillContext
from skills.paths import AdapterPath, PathArg, ReadPath

# 'base' is the base model, not a folder; anything else is an adapter, confined like `adapter`.
Against = Annotated[str, PathArg("adapter", unless=lambda value: value == "base")]


def run_eval(
    adapter: AdapterPath, against: Against = "base", data: ReadPath | None = None, persona: str | None = None,
    judge: bool = True, limit: int = 32, *, ctx: SkillContext,
) -> dict[str, Any]:
    """Evaluate an adapter against its base or another adapter; returns metrics, verdict and report paths."""
    from config.names import check_names
    from skills.dataset.paths import find_dataset
    from skills.evaluate.report import summary
    from skills.jobs.heavy import evaluate_where_configured

    check_names(persona=persona)
    data_path = find_dataset(data, ctx) if data else None
    doc = evaluate_where_configured(  # with executor.kind = "ray": a job on the GPU box, the report comes back
        ctx.settings, adapter, against=against, data=data_path, persona=persona,
        limit=limit, use_judge=judge, progress=ctx.report,
    )
    return summary(doc)
