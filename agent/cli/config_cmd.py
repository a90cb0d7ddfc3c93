"""`selftune config show`: the effective settings, where each value came from and what it means."""

from __future__ import annotations

import json
from itertools import groupby

import typer
from rich.markup import escape
from rich.table import Table

from agent.cli.common import app_state, console, emit_json, new_typer
from config.errors import SelftuneError
from config.explain import SettingRow, explain_settings
from config.settings import Settings, load_settings

config_app = new_typer("Show selftune's effective configuration.")


@config_app.command("show")
def show(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print one JSON document.")) -> None:
    """Print every setting with its value, its source (default, selftune.toml or SELFTUNE_*) and its meaning."""
    try:
        # Only reads the configuration: unlike other commands it creates no state dir or workspace.
        settings = load_settings(app_state(ctx).config_path)
    except SelftuneError as exc:
        if not as_json:
            raise
        emit_json({"ok": False, "error": str(exc), "exit_code": exc.exit_code})
        raise typer.Exit(exc.exit_code) from None
    rows = explain_settings(settings)
    if as_json:
        emit_json(_document(settings, rows))
        return
    _print_tables(settings, rows)


def _document(settings: Settings, rows: list[SettingRow]) -> dict:
    return {"ok": True, "config_file": str(settings.config_file) if settings.config_file else None,
            "settings": [row.model_dump() for row in rows]}


def _print_tables(settings: Settings, rows: list[SettingRow]) -> None:
    """One table per section; each setting's description sits under its name so 80 columns suffice."""
    console.print(f"Config file: {settings.config_file or 'none (defaults and SELFTUNE_* only)'}", markup=False)
    for section, group in groupby(rows, key=lambda r: r.section):
        table = Table(title=f"[bold]{section}[/]", title_justify="left", show_lines=True, expand=True)
        table.add_column("setting", ratio=4, overflow="fold")
        table.add_column("value", ratio=3, overflow="fold")  # long paths and URLs fold instead of losing their end
        table.add_column("source", ratio=4, overflow="fold")
        for row in group:
            table.add_row(f"{escape(row.key)}\n[dim]{escape(row.description)}[/]", escape(_text(row)),
                          escape(_source(settings, row)))
        console.print(table)


def _source(settings: Settings, row: SettingRow) -> str:
    """The file's name stands for its path, which the header prints once (paths would crowd 80 columns)."""
    file = settings.config_file
    return file.name if file is not None and row.source == str(file) else row.source


def _text(row: SettingRow) -> str:
    if row.secret:
        return "*** (set)" if row.value is not None else "(not set)"
    if row.value is None:
        return "(none)"
    return json.dumps(row.value) if isinstance(row.value, list) else str(row.value)


def register(app: typer.Typer) -> None:
    """Add the `config` command group."""
    app.add_typer(config_app, name="config")
