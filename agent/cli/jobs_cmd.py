"""`selftune jobs list|show|logs|cancel|retry`: follow and control training jobs."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import typer
from rich.table import Table

from agent.cli.common import console, emit_json, new_typer, settings_of
from agent.cli.progress import follow_job

JobArg = typer.Argument("latest", help="Job id, a unique prefix of it, or 'latest'.")
JsonOpt = typer.Option(False, "--json", help="Print one JSON document.")


def _manager(ctx: typer.Context):  # type: ignore[no-untyped-def]
    from skills.jobs import JobManager

    return JobManager(settings_of(ctx))


def _when(ts: float | None, short: bool = False) -> str:
    """A local date-time; `short` drops the year and seconds for tables that must fit 80 columns."""
    return datetime.fromtimestamp(ts).strftime("%m-%d %H:%M" if short else "%Y-%m-%d %H:%M:%S") if ts else "-"


def event_line(event: dict[str, Any]) -> str:
    """One human line for an event."""
    body = {k: v for k, v in event.items() if k not in ("event", "seq", "attempt", "ts")}
    if event["event"] == "message":
        return f"{_when(event['ts'])} message  {body.get('message', '')}"
    return f"{_when(event['ts'])} {event['event']:<10} " + "  ".join(f"{k}={_value(v)}" for k, v in body.items() if v is not None)


def _value(value: object) -> str:
    """A field as people read it: floats to 4 significant digits, lists and dicts as compact JSON."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | dict):
        return json.dumps(value, default=str, separators=(",", ":"))
    return str(value)


def register(app: typer.Typer) -> None:
    """Add the `jobs` command group."""
    jobs = new_typer("Training jobs: list, inspect, follow, cancel and retry them.")
    app.add_typer(jobs, name="jobs")

    @jobs.command("list")
    def list_jobs(ctx: typer.Context, limit: int = typer.Option(20, help="How many of the newest jobs."),
                  as_json: bool = JsonOpt) -> None:
        """List the newest jobs with their state and progress."""
        from skills.jobs.format import progress_text

        found = _manager(ctx).list(limit)
        if as_json:
            emit_json({"jobs": [j.summary() for j in found]})
            return
        table = Table("id", "name", "state", "executor", "try", "created", "progress")
        for column in table.columns[:6]:
            column.no_wrap = True  # ids, names and dates are copied whole; only the progress text wraps
        for j in found:
            table.add_row(j.id, j.name, j.state, j.executor, str(j.attempt), _when(j.created_at, short=True),
                          progress_text(j) or (j.waiting or j.error or ""))
        console.print(table if found else "No jobs yet; start one with `selftune train`.")

    @jobs.command("show")
    def show(ctx: typer.Context, job_id: str = JobArg, as_json: bool = JsonOpt) -> None:
        """Show one job: state, progress, error, adapter."""
        from skills.jobs.format import describe

        job = _manager(ctx).get(job_id)
        if as_json:
            emit_json({**job.summary(), "message": describe(job)})
            return
        console.print(describe(job), markup=False)
        for key, value in job.summary().items():
            if value not in (None, {}, ""):
                console.print(f"  {key}: {_human(key, value)}", markup=False)

    @jobs.command("logs")
    def logs(ctx: typer.Context, job_id: str = JobArg,
             follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing events until the job ends."),
             as_json: bool = JsonOpt) -> None:
        """Print a job's events (progress, eval, checkpoints, messages); --follow streams them live."""
        from skills.jobs.format import describe

        manager = _manager(ctx)
        job = manager.get(job_id)
        if as_json:
            if follow:
                manager.wait(job.id)
            emit_json({"job_id": job.id, "state": manager.get(job.id).state, "events": manager.events(job.id)})
            return
        if not follow:
            for event in manager.events(job.id):
                console.print(event_line(event), markup=False)
            return

        # The same bar as `train --wait`; the events a person reads (not each progress tick) print above it.
        done = follow_job(manager, job.id, on_event=lambda e: None if e["event"] == "progress" else event_line(e))
        console.print(describe(done), markup=False)

    @jobs.command("cancel")
    def cancel(ctx: typer.Context, job_id: str = JobArg, as_json: bool = JsonOpt) -> None:
        """Cancel a queued or running job (it checkpoints, then stops; retry resumes it)."""
        job = _manager(ctx).cancel(job_id)
        if as_json:
            emit_json({"job_id": job.id, "state": job.state, "cancel_requested": job.cancel_requested})
        else:
            console.print(f"Cancelling job {job.id} ({job.name}).", markup=False)

    @jobs.command("retry")
    def retry(ctx: typer.Context, job_id: str = JobArg, as_json: bool = JsonOpt) -> None:
        """Run a failed or cancelled job again; it resumes from its last checkpoint."""
        job = _manager(ctx).retry(job_id)
        if as_json:
            emit_json({"job_id": job.id, "state": job.state, "attempt": job.attempt})
        else:
            console.print(f"Job {job.id} queued again (attempt {job.attempt}).", markup=False)


def _human(key: str, value: object) -> object:
    """Timestamps as local date-times; everything else as stored."""
    if key.endswith("_at") and isinstance(value, int | float):
        return datetime.fromtimestamp(value).isoformat(sep=" ", timespec="seconds")
    return value
