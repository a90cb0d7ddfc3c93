"""The one progress display for a training job, shared by `train --wait` and `jobs logs --follow`."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from agent.cli.common import err_console

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


def _draw(bar: Progress, task: Any, job: Any) -> None:
    """Update the bar from the job's latest progress."""
    p = job.progress
    loss = f"{p['loss']:.3f}" if isinstance(p.get("loss"), int | float) else "-"
    bar.update(task, total=p.get("max_steps"), completed=p.get("step", 0), loss=loss,
               description=f"job {job.id} {job.state}" + (" (waiting)" if job.waiting else ""))
