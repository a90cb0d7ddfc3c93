"""Persisted schedules with APScheduler 3: a SQLAlchemy job store in selftune.db, so schedules survive restarts.

The CLI edits schedules through a paused BackgroundScheduler (writes go straight to the store); the bot
process runs an AsyncIOScheduler that fires them. Every job coalesces missed runs into one, never runs
two instances at once, and tolerates `scheduler.misfire_grace_s` of lateness (a machine that was off
at 2am retrains once when it comes back).
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from pydantic import BaseModel

from config.errors import NotFound, UsageError
from config.settings import Settings
from config.state import ensure_state_dir

log = logging.getLogger(__name__)
RETRAIN_FUNC = "skills.retrain:scheduled_retrain"  # textual reference: what the store persists
TABLE = "schedules"


class ScheduleInfo(BaseModel):
    """One persisted schedule as users see it."""

    id: str
    name: str
    persona: str | None
    trigger: str
    next_run: datetime | None
    paused: bool


class _EditOnlyScheduler(BackgroundScheduler):
    """Writes schedules to the store but never runs them; only the bot's scheduler fires.

    A merely paused scheduler is not enough: its thread can wake between shutdown() and exit and
    process due jobs once, consuming a missed run that the bot should have coalesced and run.
    """

    def _process_jobs(self) -> None:
        return None


def make_scheduler(settings: Settings, *, running_loop: bool = False, cls: type[BaseScheduler] | None = None) -> BaseScheduler:
    """A scheduler on the state dir's SQLite store with the project's job defaults."""
    ensure_state_dir(settings)
    store = SQLAlchemyJobStore(url=f"sqlite:///{settings.db_path}", tablename=TABLE)
    defaults = {"coalesce": True, "max_instances": 1, "misfire_grace_time": settings.scheduler.misfire_grace_s}
    cls = cls or (AsyncIOScheduler if running_loop else BackgroundScheduler)
    return cls(jobstores={"default": store}, job_defaults=defaults, timezone=settings.scheduler.timezone)


@contextlib.contextmanager
def schedule_store(settings: Settings) -> Iterator[BaseScheduler]:
    """A scheduler for editing schedules: nothing fires, changes persist immediately."""
    scheduler = make_scheduler(settings, cls=_EditOnlyScheduler)
    scheduler.start(paused=True)
    try:
        yield scheduler
    finally:
        scheduler.shutdown(wait=False)


_TIME = re.compile(r"^\s*(\d{1,2})(?::(\d{2}))?\s*(am|pm)?\s*$", re.IGNORECASE)


def parse_time_of_day(text: str) -> tuple[int, int]:
    """'2am', '02:00', '14:30', '2:15 pm' → (hour, minute)."""
    match = _TIME.match(text)
    if not match:
        raise UsageError(f"'{text}' is not a time of day; use forms like 02:00, 2am or 14:30.")
    hour, minute, meridiem = int(match.group(1)), int(match.group(2) or 0), (match.group(3) or "").lower()
    if meridiem:
        if not 1 <= hour <= 12:
            raise UsageError(f"'{text}': with am/pm the hour must be 1-12.")
        hour = hour % 12 + (12 if meridiem == "pm" else 0)
    if hour > 23 or minute > 59:
        raise UsageError(f"'{text}' is not a valid time of day.")
    return hour, minute


def retrain_id(persona: str) -> str:
    return f"retrain:{persona}"


def add_retrain(settings: Settings, persona: str, *, at: str | None = "02:00",
                every_minutes: float | None = None, next_run: datetime | None = None,
                overrides: dict[str, Any] | None = None) -> ScheduleInfo:
    """Schedule a persona's retrain nightly at a time of day (or every N minutes); replaces an existing one."""
    from skills.personas import load_persona

    load_persona(settings.workspace_dir, persona)  # a clear error for an unknown persona
    if every_minutes is not None:
        trigger: Any = IntervalTrigger(minutes=every_minutes, timezone=settings.scheduler.timezone)
        name = f"retrain {persona} every {every_minutes:g} min"
    else:
        hour, minute = parse_time_of_day(at or "02:00")
        trigger = CronTrigger(hour=hour, minute=minute, timezone=settings.scheduler.timezone)
        name = f"nightly retrain of {persona} at {hour:02d}:{minute:02d} {settings.scheduler.timezone}"
    kwargs = {"persona": persona, "home": str(settings.home),
              "config": str(settings.config_file) if settings.config_file else None, **(overrides or {})}
    with schedule_store(settings) as scheduler:
        extra = {"next_run_time": next_run} if next_run is not None else {}
        # Replacing keeps a wrapper a layer above installed around the retrain (the improver's regression check).
        existing = scheduler.get_job(retrain_id(persona))
        job = scheduler.add_job(existing.func_ref if existing else RETRAIN_FUNC, trigger, id=retrain_id(persona),
                                name=name, kwargs=kwargs, replace_existing=True, **extra)
        return _info(job)


def _info(job: Any) -> ScheduleInfo:
    return ScheduleInfo(
        id=job.id, name=job.name, persona=job.kwargs.get("persona"), trigger=str(job.trigger),
        next_run=job.next_run_time, paused=job.next_run_time is None,
    )


def list_schedules(settings: Settings) -> list[ScheduleInfo]:
    """Every persisted schedule, soonest first (paused ones last)."""
    with schedule_store(settings) as scheduler:
        infos = [_info(j) for j in scheduler.get_jobs()]
    return sorted(infos, key=lambda i: (i.next_run is None, i.next_run.timestamp() if i.next_run else 0.0))


def _resolve(scheduler: BaseScheduler, ref: str) -> Any:
    job = scheduler.get_job(ref) or scheduler.get_job(retrain_id(ref))
    if job is None:
        raise NotFound(f"There is no schedule '{ref}'; `selftune schedule list` shows them.")
    return job


def remove_schedule(settings: Settings, ref: str) -> ScheduleInfo:
    """Delete a schedule by id or persona name."""
    with schedule_store(settings) as scheduler:
        job = _resolve(scheduler, ref)
        info = _info(job)
        scheduler.remove_job(job.id)
    return info


def set_paused(settings: Settings, ref: str, paused: bool) -> ScheduleInfo:
    """Pause or resume a schedule by id or persona name."""
    with schedule_store(settings) as scheduler:
        job = _resolve(scheduler, ref)
        job = scheduler.pause_job(job.id) if paused else scheduler.resume_job(job.id)
        return _info(job)


class SchedulerService:
    """Runs the persisted schedules inside the bot process and reports each outcome."""

    def __init__(self, settings: Settings, notify: Callable[[dict[str, Any]], None] | None = None, *,
                 background: bool = False) -> None:
        """`notify` is called from a worker thread; `background` runs without an event loop (terminal)."""
        self.settings = settings
        self.notify = notify
        self.scheduler = make_scheduler(settings, running_loop=not background)
        self.scheduler.add_listener(self._on_event, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)

    def start(self) -> None:
        """Start firing (from inside the running event loop unless background); missed runs coalesce into one."""
        self.scheduler.start()
        log.info("scheduler started with %d schedules", len(self.scheduler.get_jobs()))

    def shutdown(self) -> None:
        """Stop firing; running jobs finish in their threads."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def _on_event(self, event: JobExecutionEvent) -> None:
        if event.exception is not None:
            log.error("schedule %s failed: %s", event.job_id, event.exception)
            outcome: dict[str, Any] = {"schedule": event.job_id, "status": "failed",
                                       "reason": f"the scheduled run crashed: {event.exception}"}
        else:
            outcome = {"schedule": event.job_id, **(event.retval or {})}
        # A job may report several outcomes (a retrain, then the rollbacks that followed it): one notice each.
        outcomes = outcome.pop("notify") if isinstance(outcome.get("notify"), list) else [outcome]
        if self.notify is not None:
            for one in outcomes:
                self.notify({"schedule": event.job_id, **one})
