"""schedule.add: persisted retrain schedules."""

from typing import Any

from skills.context import SkillContext


def schedule_add(persona: str, at: str = "02:00", every_minutes: float | None = None, *, ctx: SkillContext) -> dict[str, Any]:
    """Schedule `persona`'s retrain nightly `at` a time of day, or every `every_minutes` minutes."""
    from agent.scheduler import add_retrain

    return add_retrain(ctx.settings, persona, at=at, every_minutes=every_minutes).model_dump(mode="json")
