"""Skill jobs.logs: a job's latest events."""

from __future__ import annotations

from typing import Any

from skills.context import SkillContext


def job_logs(job_id: str = "latest", limit: int = 20, *, ctx: SkillContext) -> dict[str, Any]:
    """A job's latest events; returns {job_id, state, events: [...]}."""
    from skills.jobs import JobManager

    manager = JobManager(ctx.settings)
    try:
        job = manager.get(job_id)
        events = manager.events(job.id)
        return {"job_id": job.id, "state": job.state, "events": events[-max(1, limit):]}
    finally:
        manager.close()
