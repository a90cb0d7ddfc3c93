"""schedule.add: persisted retrain schedules."""

from typing import Any

from skills.context import SkillContext


def schedule_add(persona: str, at: str = "02:00", every_minutes: float | None = None, *, ctx: SkillContext) -> dict[str, Any]:
    """Schedule `persona`'s retrain nightly `at` a time of day, or every `every_minutes` minutes."""
    from skills.scheduler import add_retrain

    info = add_retrain(ctx.settings, persona, at=at, every_minutes=every_minutes)
    return {**info.model_dump(mode="json"), "message": f"Scheduled the {info.name}; next run {info.next_run:%Y-%m-%d %H:%M %Z}."}
