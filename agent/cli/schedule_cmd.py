"""`selftune schedule ...` and `selftune rollback`: persisted retrains and reversible promotion."""

from __future__ import annotations

from typing import Optional

import typer
from rich.table import Table

from agent.cli.common import console, emit_json, new_typer, settings_of

schedule_app = new_typer("Persisted schedules: nightly, gated retrains of a persona's adapter.")


@schedule_app.command("list")
def list_cmd(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print one JSON document.")) -> None:
    """List schedules with their next run."""
    from skills.scheduler import list_schedules

    schedules = list_schedules(settings_of(ctx))
    if as_json:
        emit_json({"schedules": [s.model_dump(mode="json") for s in schedules]})
        return
    if not schedules:
        console.print("Nothing is scheduled. Add one with `selftune schedule add PERSONA --at 2am`.")
        return
    table = Table("id", "what", "next run", "state")
    for s in schedules:
        table.add_row(s.id, s.name, str(s.next_run or "-"), "paused" if s.paused else "active")
    console.print(table)


@schedule_app.command("add")
def add_cmd(
    ctx: typer.Context,
    persona: str = typer.Argument(..., help="Persona whose adapter is retrained (workspace personas/*.toml)."),
    at: str = typer.Option("02:00", "--at", help="Time of day in scheduler.timezone: 02:00, 2am, 14:30."),
    every: Optional[float] = typer.Option(None, "--every-minutes", help="Run every N minutes instead of nightly."),  # noqa: UP045
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Schedule a gated retrain: harvest → train → evaluate → promote only if better."""
    from skills.scheduler import add_retrain

    info = add_retrain(settings_of(ctx), persona, at=at, every_minutes=every)
    if as_json:
        emit_json(info.model_dump(mode="json"))
    else:
        console.print(f"Scheduled {info.name}; next run {info.next_run}.")


@schedule_app.command("remove")
def remove_cmd(ctx: typer.Context, schedule: str = typer.Argument(..., help="Schedule id or persona.")) -> None:
    """Delete a schedule."""
    from skills.scheduler import remove_schedule

    info = remove_schedule(settings_of(ctx), schedule)
    console.print(f"Removed {info.name}.")


@schedule_app.command("pause")
def pause_cmd(ctx: typer.Context, schedule: str = typer.Argument(..., help="Schedule id or persona.")) -> None:
    """Pause a schedule (it keeps its settings)."""
    from skills.scheduler import set_paused

    console.print(f"Paused {set_paused(settings_of(ctx), schedule, True).name}.")


@schedule_app.command("resume")
def resume_cmd(ctx: typer.Context, schedule: str = typer.Argument(..., help="Schedule id or persona.")) -> None:
    """Resume a paused schedule."""
    from skills.scheduler import set_paused

    info = set_paused(settings_of(ctx), schedule, False)
    console.print(f"Resumed {info.name}; next run {info.next_run}.")


@schedule_app.command("run-now")
def run_now_cmd(
    ctx: typer.Context,
    persona: str = typer.Argument(..., help="Persona to retrain now, with the same gate as the schedule."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Run a persona's retrain pipeline once, now, and print each step's outcome."""
    from skills.retrain import run_retrain

    outcome = run_retrain(settings_of(ctx), persona)
    if as_json:
        emit_json(outcome.model_dump(mode="json"))
    else:
        for step in outcome.steps:
            console.print(f"{'✓' if step.ok else '✗'} {step.step}: {step.detail}", highlight=False)
        console.print(f"[bold]{outcome.status}[/]: {outcome.reason}", highlight=False)
    raise typer.Exit(1 if outcome.status == "failed" else 0)


def register(app: typer.Typer) -> None:
    """Add the `schedule` group."""
    app.add_typer(schedule_app, name="schedule")
