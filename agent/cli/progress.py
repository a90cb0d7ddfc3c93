"""The one progress display for a job, shared by `train --wait`, `jobs logs --follow` and eval/export on an executor."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from agent.cli.common import console, err_console
from config.settings import Settings

POLL_S = 0.5


def follow_job(manager: Any, job_id: str, *, quiet: bool = False,
               on_event: Callable[[dict[str, Any]], str | None] | None = None) -> Any:
    """Poll the job until it ends, drawing step/loss/ETA on stderr; events `on_event` turns into text print above it."""
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} steps"),
               TextColumn("loss {task.fields[loss]}"), TimeRemainingColumn())
    job = manager.get(job_id)
    seen = 0
    with Progress(*columns, console=err_console, disable=quiet, transient=False) as bar:
        task = bar.add_task(f"job {job.id}", total=None, loss="-")
        while True:
            if on_event is not None:
                for event in manager.events(job.id, after=seen):
                    seen = event["seq"]
                    line = on_event(event)
                    if line:
                        bar.console.print(line, markup=False, highlight=False)
            _draw(bar, task, job)
            if job.done:
                return job
            time.sleep(POLL_S)
            job = manager.get(job.id)


def follow_submitted(settings: Settings, job_id: str, what: str, executor: str, *, quiet: bool = False) -> Any:
    """Say where a heavy job (evaluation, export) went, follow it to its end and return the finished job."""
    from skills.jobs import JobManager

    if not quiet:
        console.print(f"Submitted {what} job {job_id} to the {executor} executor.", markup=False)
    manager = JobManager(settings)
    try:
        return follow_job(manager, job_id, quiet=quiet)
    finally:
        manager.close()


def _draw(bar: Progress, task: Any, job: Any) -> None:
    """Update the bar from the job's latest progress."""
    p = job.progress
    loss = f"{p['loss']:.3f}" if isinstance(p.get("loss"), int | float) else "-"
    bar.update(task, total=p.get("max_steps"), completed=p.get("step", 0), loss=loss,
               description=f"job {job.id} {job.state}" + (" (waiting)" if job.waiting else ""))
