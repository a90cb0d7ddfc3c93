"""schedule.list: what is scheduled."""

from typing import Any

from skills.context import SkillContext


def schedule_list(*, ctx: SkillContext) -> dict[str, Any]:
    """Return every schedule, soonest first."""
    from skills.scheduler import list_schedules

    schedules = list_schedules(ctx.settings)
    lines = [f"- {s.name}: " + ("paused" if s.paused else f"next run {s.next_run:%Y-%m-%d %H:%M %Z}") for s in schedules]
    message = "\n".join(["Scheduled:", *lines]) if lines else "Nothing is scheduled; say 'schedule a nightly retrain of pirate at 2am'."
    return {"schedules": [s.model_dump(mode="json") for s in schedules], "message": message}
