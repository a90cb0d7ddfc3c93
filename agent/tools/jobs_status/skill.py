"""Skill jobs.status: one job's state and progress."""

from __future__ import annotations

from typing import Any

from config.errors import NotFound
from skills.context import SkillContext


def job_status(job_id: str = "latest", *, ctx: SkillContext) -> dict[str, Any]:
    """A job's state and progress (by id, prefix, persona or 'latest': the running job, else the requester's last
    one); returns the summary plus a `message`."""
    from skills.jobs import JobManager
    from skills.jobs.format import describe
    from skills.personas import list_personas

    manager = JobManager(ctx.settings)
    try:
        # No id ("how is my job doing?"): the running job, else the last one this person started.
        job = manager.current(ctx.requester.user) if job_id == "latest" else manager.get(job_id)
        return {**job.summary(), "message": describe(job)}
    except NotFound:
        # Asking about a persona (or 'latest') before any job ran is a question, not a failure.
        if job_id == "latest" or job_id in list_personas(ctx.settings.workspace_dir):
            who = "" if job_id == "latest" else f" for {job_id}"
            return {"id": None, "state": None,
                    "message": f"There are no jobs{who} yet; say 'tune a {job_id if who else 'pirate'} persona adapter' to start one."}
        raise
    finally:
        manager.close()
