"""Skill jobs.status: one job's state and progress."""

from __future__ import annotations

from typing import Any

from skills.context import SkillContext


def job_status(job_id: str = "latest", *, ctx: SkillContext) -> dict[str, Any]:
    """A job's state and progress; returns the job summary plus a one-line `message`."""
    from skills.jobs import JobManager
    from skills.jobs.format import describe

    manager = JobManager(ctx.settings)
    try:
        job = manager.get(job_id)
        return {**job.summary(), "message": describe(job)}
    finally:
        manager.close()
