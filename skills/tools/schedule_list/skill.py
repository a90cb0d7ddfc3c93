"""schedule.list: what is scheduled."""

from typing import Any

from skills.context import SkillContext


def schedule_list(*, ctx: SkillContext) -> dict[str, Any]:
    """Return every schedule, soonest first."""
    from agent.scheduler import list_schedules

    return {"schedules": [s.model_dump(mode="json") for s in list_schedules(ctx.settings)]}
