"""The improver's scheduled work, persisted in the same APScheduler store as the nightly retrains.

`nightly_retrain` runs a persona's retrain (`skills.retrain`) and then the regression check; `scheduled_round`
runs improvement rounds and then the regression check; both checks end with the watch of the served adapters'
👍 rates (improver/watch.py), which also runs on its own schedule, `watch_served`. Both return the scheduler's outcome dict with a
`notify` list, so the same hook that posts the nightly retrain's result posts each rollback's sentence in
the affected persona's channel. `install` points the persisted retrain schedules at `nightly_retrain`
(the engine below cannot name the improver above it, so the improver adopts its schedules).
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from config.settings import Settings, load_settings
from skills.scheduler import RETRAIN_FUNC, ScheduleInfo, parse_time_of_day, schedule_store

log = logging.getLogger(__name__)
NIGHTLY_FUNC = "improver.scheduled:nightly_retrain"  # textual references: what the job store persists
ROUND_FUNC = "improver.scheduled:scheduled_round"
ROUND_ID = "improver:rounds"
WATCH_FUNC = "improver.scheduled:watch_served"
WATCH_ID = "improver:watch"


def _settings(home: str, config: str | None) -> Settings:
    return load_settings(Path(config) if config else None, home=Path(home))


def _check(settings: Settings, eval_config: Any = None) -> list[dict[str, Any]]:
    """Run the regression check, then the served adapters' watch; their rollbacks as notifications (a crash of
    either is logged, never raised)."""
    from improver.regressions import find_and_roll_back

    try:
        found = [n for r in find_and_roll_back(settings, eval_config) for n in r.notifications()]
    except Exception:  # the retrain/round outcome must still be reported
        log.exception("the regression check failed")
        found = []
    return found + _watch(settings)


def _watch(settings: Settings) -> list[dict[str, Any]]:
    """Roll back each served adapter whose 👍 rate in use fell beyond the noise; the rollbacks as notifications."""
    from improver.watch import check_served

    try:
        return [n for r in check_served(settings) for n in r.notifications()]
    except Exception:
        log.exception("the served adapters' watch failed")
        return []


def watch_served(home: str, config: str | None = None) -> dict[str, Any]:
    """The scheduled watch of the served adapters' 👍 rates (between nightly retrains)."""
    rollbacks = _watch(_settings(home, config))
    return {"status": "done", "reason": f"{len(rollbacks)} served adapter(s) rolled back", "rollbacks": rollbacks,
            "notify": rollbacks}


def nightly_retrain(persona: str, home: str, config: str | None = None, **overrides: Any) -> dict[str, Any]:
    """The nightly retrain of one persona, then the regression check of recent accepted improvements."""
    from skills.retrain import scheduled_retrain

    outcome = scheduled_retrain(persona, home, config, **overrides)
    rollbacks = _check(_settings(home, config))
    return {**outcome, "rollbacks": rollbacks, "notify": [dict(outcome), *rollbacks]}


def scheduled_round(home: str, config: str | None = None, rounds: int = 1, targets: list[str] | None = None,
                    skill_resolver: str = "") -> dict[str, Any]:
    """Improvement rounds (over the default targets unless given), then the regression check; `skill_resolver`
    names the router that skill targets are replayed through (the agent passes it when it schedules)."""
    from improver.eval_config import from_settings
    from improver.loop import Loop, stop_reason

    settings = _settings(home, config)
    adopt_retrains(settings)
    reason = stop_reason(settings)
    cfg = from_settings(settings)
    cfg = cfg if cfg.skill_resolver or not skill_resolver else cfg.model_copy(update={"skill_resolver": skill_resolver})
    summary = None if reason else Loop(settings, eval_config=cfg).run(rounds=rounds, targets=targets)
    rollbacks = _check(settings, cfg)
    verdicts = [f"{e.target} {e.verdict}" for e in summary.entries] if summary else []
    log.info("scheduled improver round: %s; %d rollback(s)", reason or ", ".join(verdicts) or "no entry", len(rollbacks))
    return {"status": "skipped" if reason else "done", "reason": reason or "; ".join(verdicts),
            "rollbacks": rollbacks, "notify": rollbacks}


def add_round_schedule(settings: Settings, *, at: str | None = "03:00", every_minutes: float | None = None,
                       rounds: int = 1, targets: list[str] | None = None, skill_resolver: str = "",
                       next_run: datetime | None = None) -> ScheduleInfo:
    """Schedule improvement rounds daily at a time of day (or every N minutes); replaces an existing one.
    `skill_resolver` ('module:function') is the router that skill targets are judged through."""
    tz = settings.scheduler.timezone
    if every_minutes is not None:
        trigger: Any = IntervalTrigger(minutes=every_minutes, timezone=tz)
        name = f"improver: {rounds} round(s) every {every_minutes:g} min"
    else:
        hour, minute = parse_time_of_day(at or "03:00")
        trigger = CronTrigger(hour=hour, minute=minute, timezone=tz)
        name = f"improver: {rounds} round(s) daily at {hour:02d}:{minute:02d} {tz}"
    kwargs = {"home": str(settings.home), "config": str(settings.config_file) if settings.config_file else None,
              "rounds": rounds, "targets": targets, "skill_resolver": skill_resolver}
    with schedule_store(settings) as scheduler:
        extra = {"next_run_time": next_run} if next_run is not None else {}
        job = scheduler.add_job(ROUND_FUNC, trigger, id=ROUND_ID, name=name, kwargs=kwargs, replace_existing=True,
                                **extra)
        return ScheduleInfo(id=job.id, name=job.name, persona=None, trigger=str(job.trigger),
                            next_run=job.next_run_time, paused=job.next_run_time is None)


def adopt_retrains(settings: Settings) -> list[str]:
    """Point persisted retrain schedules at `nightly_retrain`, so the regression check follows each; returns their ids."""
    adopted = []
    with schedule_store(settings) as scheduler:
        for job in scheduler.get_jobs():
            if job.func_ref == RETRAIN_FUNC:
                scheduler.modify_job(job.id, func=NIGHTLY_FUNC)
                adopted.append(job.id)
    return adopted


def add_watch_schedule(settings: Settings) -> ScheduleInfo:
    """Watch the served adapters' 👍 rates every `improver.watch_every_minutes` (replaces an existing schedule)."""
    minutes = settings.improver.watch_every_minutes
    kwargs = {"home": str(settings.home), "config": str(settings.config_file) if settings.config_file else None}
    with schedule_store(settings) as scheduler:
        job = scheduler.add_job(WATCH_FUNC, IntervalTrigger(minutes=minutes, timezone=settings.scheduler.timezone),
                                id=WATCH_ID, name=f"watch the served adapters' 👍 rates every {minutes:g} min",
                                kwargs=kwargs, replace_existing=True)
        return ScheduleInfo(id=job.id, name=job.name, persona=None, trigger=str(job.trigger),
                            next_run=job.next_run_time, paused=job.next_run_time is None)


def install(settings: Settings, *, watch: bool = True) -> list[str]:
    """What `selftune run` calls before its scheduler starts: adopt the retrain schedules and (unless `watch` is
    false) watch the served adapters' 👍 rates between them."""
    if watch:
        add_watch_schedule(settings)
    adopted = adopt_retrains(settings)
    if adopted:
        log.info("regression checks follow %d retrain schedule(s): %s", len(adopted), ", ".join(adopted))
    return adopted
