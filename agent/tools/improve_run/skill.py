"""improve.run: run the self-improvement loop."""

from __future__ import annotations

from typing import Any

from skills.context import SkillContext


def improve_run(rounds: int = 1, targets: list[str] | None = None, *, ctx: SkillContext) -> dict[str, Any]:
    """Run up to `rounds` improvement rounds over `targets` and return what was decided."""
    from agent.replay import improver_config
    from improver.loop import Loop, stop_reason

    reason = stop_reason(ctx.settings)
    if reason:
        return {"rounds": 0, "entries": [], "notes": [reason]}
    loop = Loop(ctx.settings, eval_config=improver_config(ctx.settings), progress=lambda msg: ctx.report({"message": msg}))
    return loop.run(rounds=rounds, targets=targets or None).model_dump(mode="json")
