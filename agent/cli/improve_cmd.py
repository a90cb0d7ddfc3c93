"""`selftune improve run|schedule|journal|rollback|stop|resume`: the self-improvement loop."""

from __future__ import annotations

from typing import Optional

import typer
from rich.table import Table

from agent.cli.common import console, emit_json, err_console, new_typer, settings_of
from config.errors import SelftuneError

TARGET_HELP = "persona:<name>, recipe:<name>, adapter:<persona>, skill:<name> or skills (every skill); repeatable."
improve_app = new_typer("The self-improvement loop: propose, evaluate, keep only what is measurably better.")


def _table(entries: list) -> Table:
    table = Table("round", "target", "verdict", "baseline", "candidate", "noise", "delta", "reason", "commit")
    for e in entries:
        nums = [f"{v:.4g}" if v is not None else "" for v in (e.baseline, e.candidate, e.noise, e.delta)]
        table.add_row(str(e.round), e.target, e.verdict, *nums, e.reason, e.commit[:8])
    return table


@improve_app.command("run")
def run_cmd(
    ctx: typer.Context,
    rounds: Optional[int] = typer.Option(None, "--rounds", min=1, help="Rounds to run (capped by improver.max_rounds)."),  # noqa: UP045
    target: Optional[list[str]] = typer.Option(None, "--target", help=TARGET_HELP),  # noqa: UP045
    proposal_budget: Optional[float] = typer.Option(None, "--proposal-budget", min=1, help="Seconds one evaluation may take."),  # noqa: UP045
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Run improvement rounds: each target gets one proposal per round, judged by the evaluator."""
    from agent.replay import improver_config
    from improver.loop import Loop, stop_reason

    settings = settings_of(ctx)
    reason = stop_reason(settings)
    if reason:
        raise SelftuneError(f"Not running: {reason}.")
    loop = Loop(settings, eval_config=improver_config(settings), proposal_budget_s=proposal_budget,
                progress=lambda m: err_console.print(f"[dim]{m}[/]"))
    summary = loop.run(rounds=rounds, targets=target or None)
    if as_json:
        emit_json(summary.model_dump(mode="json"))
        return
    console.print(_table(summary.entries))
    for note in summary.notes:
        console.print(f"note: {note}")


@improve_app.command("schedule")
def schedule_cmd(
    ctx: typer.Context,
    at: str = typer.Option("03:00", "--at", help="Time of day for the daily rounds, e.g. 03:00 or 3am."),
    every_minutes: Optional[float] = typer.Option(None, "--every-minutes", min=0.01, help="Run every N minutes instead."),  # noqa: UP045
    rounds: int = typer.Option(1, "--rounds", min=1, help="Rounds per run (capped by improver.max_rounds)."),
    target: Optional[list[str]] = typer.Option(None, "--target", help=TARGET_HELP),  # noqa: UP045
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Schedule improvement rounds (run by `selftune run`); each run ends with the regression check."""
    from agent.replay import RESOLVER
    from improver.scheduled import add_round_schedule

    info = add_round_schedule(settings_of(ctx), at=at, every_minutes=every_minutes, rounds=rounds, targets=target or None,
                              skill_resolver=RESOLVER)
    if as_json:
        emit_json(info.model_dump(mode="json"))
        return
    console.print(f"Scheduled {info.name}; next run {info.next_run}. `selftune schedule remove {info.id}` removes it.")


@improve_app.command("journal")
def journal_cmd(
    ctx: typer.Context,
    days: Optional[float] = typer.Option(None, "--days", help="Only the last N days."),  # noqa: UP045
    target: Optional[str] = typer.Option(None, "--target", help="Only this target."),  # noqa: UP045
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Show what the loop tried: round, target, baseline, candidate, noise, delta, verdict, reason, commit."""
    from improver import journal

    items = journal.entries(settings_of(ctx), target=target, since_days=days)
    if as_json:
        emit_json({"summary": journal.summarize(items), "entries": [e.model_dump() for e in items]})
        return
    console.print(_table(items))
    console.print(journal.summarize(items))


@improve_app.command("rollback")
def rollback_cmd(
    ctx: typer.Context,
    commit: Optional[str] = typer.Argument(None, help="Commit (prefix) of an accepted improvement; default: the latest."),  # noqa: UP045
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Revert an accepted improvement with a new workspace commit and record it in the journal."""
    from improver.loop import rollback

    entry = rollback(settings_of(ctx), commit)
    if as_json:
        emit_json(entry.model_dump())
        return
    console.print(f"Rolled back {entry.target}: {entry.reason}; workspace commit {entry.commit[:8]}.")


@improve_app.command("stop")
def stop_cmd(ctx: typer.Context) -> None:
    """Kill switch: create the STOP file; running loops stop before their next proposal."""
    from improver.loop import STOP_FILE

    path = settings_of(ctx).home / STOP_FILE
    path.write_text("stopped by `selftune improve stop`\n")
    console.print(f"Kill switch on ({path}). `selftune improve resume` turns it off.")


@improve_app.command("resume")
def resume_cmd(ctx: typer.Context) -> None:
    """Remove the STOP file so the loop may run again."""
    from improver.loop import STOP_FILE

    (settings_of(ctx).home / STOP_FILE).unlink(missing_ok=True)
    console.print("Kill switch off.")


def register(app: typer.Typer) -> None:
    """Add the `improve` command group."""
    app.add_typer(improve_app, name="improve")
