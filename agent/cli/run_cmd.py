"""`selftune run`: the assistant in Discord when a token is configured, else in the terminal."""

from __future__ import annotations

import asyncio

import typer

from agent.cli.common import console, err_console, settings_of


def register(app: typer.Typer) -> None:
    """Add the `run` command."""

    @app.command()
    def run(
        ctx: typer.Context,
        force_console: bool = typer.Option(False, "--console", help="Use the terminal even if a Discord token is set."),
    ) -> None:
        """Start the assistant: Discord when SELFTUNE_DISCORD_TOKEN (or discord_token_file) is set, else a terminal chat.

        Both remember conversations (SQLite + Chroma) and run the persisted schedules.
        """
        from agent.memory_hooks import MemoryHooks, router_with_memory
        from agent.router import Router
        from improver.scheduled import install
        from skills.backup import install_backup_schedule

        settings = settings_of(ctx)
        _reattach_jobs(settings)
        install(settings)  # the regression check follows every nightly retrain
        install_backup_schedule(settings)  # on unless backup.nightly = false
        if settings.secret("discord_token") and not force_console:
            from agent.discord_bot import BotServices, run_bot

            # the bot logs exchanges itself (with Discord ids); the router recalls, its model loaded at start
            hooks = MemoryHooks(settings, background=True)
            err_console.print("Connecting to Discord… (Ctrl+C to stop)")
            try:
                asyncio.run(run_bot(settings, BotServices.for_settings(settings, Router(settings, recall=hooks.recall))))
            except KeyboardInterrupt:
                err_console.print("Stopped.")
            finally:
                hooks.close()
            return
        from agent.console import run_console
        from skills.scheduler import SchedulerService

        router, hooks = router_with_memory(settings, background=True)
        schedules = SchedulerService(settings, notify=_print_outcome, background=True)
        schedules.start()
        try:
            run_console(router, console)
        finally:
            schedules.shutdown()
            hooks.close()


def _reattach_jobs(settings) -> None:  # noqa: ANN001
    """Jobs survive restarts: give unfinished ones whose supervisor died a new one, and say so."""
    from skills.jobs import JobManager

    restarted = JobManager(settings).reattach()
    if restarted:
        err_console.print(f"Re-attached to {len(restarted)} unfinished job(s): {', '.join(restarted)}")


def _print_outcome(outcome: dict) -> None:
    if outcome.get("sentence"):  # a notice that says itself (a canary's decision)
        console.print(f"\n{outcome['sentence']}", highlight=False)
        return
    what = f"retrain of {outcome['persona']}" if outcome.get("persona") else outcome.get("schedule", "run")
    console.print(f"\n[bold]Scheduled {what}[/]: "
                  f"{outcome.get('status', 'failed')} — {outcome.get('reason', '')}", highlight=False)
