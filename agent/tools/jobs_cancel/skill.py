"""Skill jobs.cancel: stop a job."""

from __future__ import annotations

from typing import Any

from skills.context import SkillContext


def cancel_job(job_id: str = "latest", *, ctx: SkillContext) -> dict[str, Any]:
    """Cancel a job; returns {job_id, state, cancel_requested, message}."""
    from skills.jobs import JobManager

    manager = JobManager(ctx.settings)
    try:
        job = manager.cancel(job_id)
        return {"job_id": job.id, "state": job.state, "cancel_requested": job.cancel_requested,
                "message": f"Cancelling job {job.id} ({job.name}); it checkpoints and stops."}
    finally:
        manager.close()
