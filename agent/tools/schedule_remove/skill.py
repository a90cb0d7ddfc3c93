"""schedule.remove: delete, pause or resume a schedule."""

from typing import Any, Literal

from skills.context import SkillContext


def schedule_remove(schedule: str, action: Literal["remove", "pause", "resume"] = "remove", *, ctx: SkillContext) -> dict[str, Any]:
    """Remove (or pause/resume) the schedule named by id or persona."""
    from skills.scheduler import remove_schedule, set_paused

    if action == "remove":
        info = remove_schedule(ctx.settings, schedule)
    else:
        info = set_paused(ctx.settings, schedule, action == "pause")
    done = {"remove": "Removed", "pause": "Paused", "resume": "Resumed"}[action]
    return {"action": action, **info.model_dump(mode="json"), "message": f"{done} the {info.name}."}
