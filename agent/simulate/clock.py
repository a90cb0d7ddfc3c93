"""A fake clock for the simulated week: the persisted schedules' own triggers say when each job fires, and the
simulation runs the jobs due in each simulated night at once (no real sleeping)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from config.settings import Settings
from skills.scheduler import schedule_store

DAY_STARTS = timedelta(hours=9)  # the community chats from 09:00 until the evening
NIGHT_STARTS = timedelta(hours=22)


@dataclass(frozen=True)
class Due:
    """A persisted schedule due in the night being simulated."""

    id: str
    fire_at: datetime
    func: Any
    kwargs: dict[str, Any]


class FakeClock:
    """Simulated time: day N runs 09:00-22:00, its night until 09:00 of day N+1."""

    def __init__(self, start: datetime) -> None:
        self.start = start.replace(hour=0, minute=0, second=0, microsecond=0)
        self.now = self.start + DAY_STARTS

    def morning(self, day: int) -> datetime:
        """09:00 of simulated day `day` (day 1 is the first)."""
        return self.start + timedelta(days=day - 1) + DAY_STARTS

    def night(self, day: int) -> tuple[datetime, datetime]:
        """The night after day `day`: from 22:00 to the next morning."""
        begin = self.start + timedelta(days=day - 1) + NIGHT_STARTS
        return begin, self.morning(day + 1)

    def due(self, settings: Settings, day: int) -> list[Due]:
        """The persisted schedules whose trigger fires in the night after `day`, in firing order."""
        begin, end = self.night(day)
        found = []
        with schedule_store(settings) as scheduler:
            for job in scheduler.get_jobs():
                fire = job.trigger.get_next_fire_time(None, begin)
                if fire is not None and fire < end:
                    found.append(Due(id=job.id, fire_at=fire, func=job.func, kwargs=dict(job.kwargs)))
        self.now = end
        return sorted(found, key=lambda d: d.fire_at)
