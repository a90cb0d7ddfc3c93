"""`selftune doctor`: is this machine ready?"""

from __future__ import annotations

import typer
from rich.table import Table

from agent.cli.common import console, emit_json, settings_of


def register(app: typer.Typer) -> None:
    """Add the `doctor` command."""

    @app.command()
    def doctor(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print one JSON document.")) -> None:
        """Check Python, torch/CUDA, models, disk, Ray, the LLM provider, Ollama, Discord and skills."""
        from agent.doctor import run_checks

        settings = settings_of(ctx)
        checks = run_checks(settings)
        ok = all(c.ok for c in checks)
        if as_json:
            emit_json({"ok": ok, "home": str(settings.home), "checks": [c.model_dump() for c in checks]})
        else:
            table = Table("check", "status", "detail", "fix", show_lines=False)
            for c in checks:
                table.add_row(c.name, "[green]ok[/]" if c.ok else "[red]problem[/]", c.detail, c.fix or "")
            console.print(table)
            console.print(f"State directory: {settings.home}")
        raise typer.Exit(0 if ok else 1)
