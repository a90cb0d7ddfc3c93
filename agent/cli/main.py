"""Entry point of the `selftune` command: builds the typer app from the command modules."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Optional

import typer

from agent.cli.common import AppState, SelftuneGroup
from agent.cli.helptext import plain_help
from skills.registry import dist_version

# Each module exposes register(app). Add a module here when its commands work end to end.
COMMAND_MODULES = [  # in the order `selftune --help` lists them: daily use first
    "agent.cli.run_cmd",
    "agent.cli.chat_cmd",
    "agent.cli.demo_cmd",
    "agent.cli.doctor_cmd",
    "agent.cli.setup_cmd",
    "agent.cli.config_cmd",
    "agent.cli.dataset_cmd",
    "agent.cli.train_cmd",
    "agent.cli.recipes_cmd",
    "agent.cli.jobs_cmd",
    "agent.cli.eval_cmd",
    "agent.cli.export_cmd",
    "agent.cli.serve_cmd",
    "agent.cli.adapters_cmd",
    "agent.cli.schedule_cmd",
    "agent.cli.memory_cmd",
    "agent.cli.backup_cmd",
    "agent.cli.transcribe_cmd",
    "agent.cli.improve_cmd",
    "agent.cli.skills_cmd",
    "agent.cli.simulate_cmd",
]

plain_help()
app = typer.Typer(
    name="selftune",
    help="A self-hosted assistant that fine-tunes its own language models. "
    "Run `selftune run` to chat, `selftune doctor` to check the machine.",
    cls=SelftuneGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"selftune {dist_version('selftune')}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    config: Optional[Path] = typer.Option(  # noqa: UP045 - typer needs Optional on 3.11
        None, "--config", help="Path to selftune.toml (else SELFTUNE_CONFIG, ./selftune.toml, the state dir)."
    ),
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                 help="Print selftune's version and exit."),
    verbose: bool = typer.Option(False, "--verbose", "-v",
                                 help="Also show libraries' warnings and progress bars (model loading) on stderr."),
) -> None:
    """Global options."""
    from config.logging import quiet_libraries

    quiet_libraries(verbose)  # before any command imports the engine (torch, transformers, bitsandbytes)
    ctx.obj = AppState(config_path=config, verbose=verbose)


for _module in COMMAND_MODULES:
    importlib.import_module(_module).register(app)


def main() -> None:
    """Console-script entry point."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    app()


if __name__ == "__main__":
    main()
