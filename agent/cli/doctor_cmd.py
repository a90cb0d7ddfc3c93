"""`selftune doctor`: is this machine ready?"""

from __future__ import annotations

import logging

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from agent.cli.common import console, emit_json, err_console, settings_of
from config.settings import Settings

log = logging.getLogger(__name__)


def register(app: typer.Typer) -> None:
    """Add the `doctor` command."""

    @app.command()
    def doctor(
        ctx: typer.Context,
        as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
        repair: bool = typer.Option(False, "--repair", help="Set a damaged selftune.db aside and restore its "
                                    "backup (selftune.db.bak) or start a fresh one."),
    ) -> None:
        """Check Python, torch/CUDA, models, disk, the database, Ray, the LLM provider, Ollama, Discord, skills, and
        what each persona serves where."""
        from agent.doctor import persona_checks, run_checks

        settings = settings_of(ctx)
        repaired = _repair(settings) if repair else None
        served, personas = persona_checks(settings)
        checks = run_checks(settings) + served
        ok = all(c.ok for c in checks)
        if as_json:
            doc = {"ok": ok, "home": str(settings.home), "checks": [c.model_dump() for c in checks],
                   "personas": personas}
            emit_json(doc if repaired is None else {**doc, "repair": repaired})
        else:
            console.print(_table(checks))
            warned = sum(c.level == "warn" for c in checks)
            failed = sum(c.level == "fail" for c in checks)
            console.print(f"{len(checks) - warned - failed} ok, {warned} warning(s), {failed} failure(s). "
                          f"State directory: {settings.home}", markup=False, highlight=False)
            if repaired:
                console.print(repaired, highlight=False, markup=False)
        raise typer.Exit(0 if ok else 1)


STATUS = {"ok": "[green]ok[/]", "warn": "[yellow]warn[/]", "fail": "[red]FAIL[/]"}


def _table(checks: list) -> Table:  # noqa: ANN001 - list[agent.doctor.Check]
    """Three columns that read at 80 columns: the name and status never wrap, the fix goes under the detail."""
    table = Table("check", "status", "detail / fix", box=box.SIMPLE, pad_edge=False, expand=False)
    table.columns[0].no_wrap = table.columns[1].no_wrap = True
    table.columns[2].overflow = "fold"  # a long path folds at the edge instead of being cut off
    for c in checks:
        detail = Text(c.detail)
        if c.fix:
            detail.append(f"\n→ {c.fix}", style="dim" if c.level == "ok" else "bold")
        table.add_row(c.name, STATUS[c.level], detail)
    return table


def _repair(settings: Settings) -> str:
    """Repair selftune.db, then rebuild the recall index so it holds exactly what the repaired log holds."""
    from config.state import repair_database
    from memory.store import open_memory

    sentence, changed = repair_database(settings)
    if not changed:
        return sentence
    try:
        with err_console.status("Rebuilding the recall index from the repaired log…"), open_memory(settings) as memory:
            count = memory.reindex()
    except Exception as exc:  # the database is repaired either way; say how to finish the job
        log.warning("recall index rebuild after repair failed", exc_info=exc)
        return f"{sentence}; the recall index could not be rebuilt, so run `selftune memory reindex`."
    return f"{sentence}, and rebuilt the recall index from it ({count} message(s))."
