"""`selftune run`: the assistant in Discord when a token is configured, else in the terminal."""

from __future__ import annotations

import typer

from agent.cli.common import console, settings_of


def register(app: typer.Typer) -> None:
    """Add the `run` command."""

    @app.command()
    def run(
        ctx: typer.Context,
        force_console: bool = typer.Option(False, "--console", help="Use the terminal even if a Discord token is set."),
    ) -> None:
        """Start the assistant: Discord when SELFTUNE_DISCORD_TOKEN is set, else a terminal chat."""
        from agent.console import run_console
        from agent.router import Router

        settings = settings_of(ctx)
        if settings.secret("discord_token") and not force_console:
            console.print("Discord transport is not available yet; starting the terminal assistant.")
        run_console(Router(settings), console)
