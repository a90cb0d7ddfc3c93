"""improve.run: run the self-improvement loop."""

from __future__ import annotations

import re
from typing import Any

from skills.context import SkillContext


def improve_run(rounds: int = 1, targets: list[str] | str | None = None, *, ctx: SkillContext) -> dict[str, Any]:
    """Run up to `rounds` improvement rounds over `targets` (a list, or text such as "skill:train.submit,
    persona:pirate" from chat and slash commands) and return what was decided, with a sentence per round."""
    from agent.replay import improver_config
    from improver.loop import Loop, stop_reason

    reason = stop_reason(ctx.settings)
    if reason:
        return {"rounds": 0, "entries": [], "notes": [reason]}
    loop = Loop(ctx.settings, eval_config=improver_config(ctx.settings), progress=lambda msg: ctx.report({"message": msg}))
    if isinstance(targets, str):
        targets = [t for t in re.split(r"[,\s]+", targets) if t]
    summary = loop.run(rounds=rounds, targets=targets or None).model_dump(mode="json")
    lines = [f"{e['target']}: {e['verdict']} ({e['reason']})" for e in summary.get("entries", [])]
    return {**summary, "message": "\n".join(lines) or "No round ran: " + "; ".join(summary.get("notes") or ["nothing to do"])}
