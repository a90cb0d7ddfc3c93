"""Shared CLI plumbing: lazy settings, JSON output, one-line errors instead of tracebacks."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from typer._click.exceptions import ClickException  # typer vendors click; its _main only catches this one
from typer.core import TyperGroup

from config.errors import SelftuneError
from config.settings import Settings, load_settings

# Human output goes to stderr-free stdout via rich; --json output bypasses rich entirely.
console = Console()
err_console = Console(stderr=True)


class CliError(ClickException):
    """A SelftuneError carried through typer, keeping its exit code; typer prints it without a traceback."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class SelftuneGroup(TyperGroup):
    """Turns SelftuneError (and bad settings) into one clear sentence and the right exit code."""

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SelftuneError as exc:
            raise CliError(str(exc), exc.exit_code) from None


@dataclass
class AppState:
    """Per-invocation state: the config path given on the command line and the Settings built from it."""

    config_path: Path | None = None
    _settings: Settings | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        """Settings, built on first use so `--help` never needs a valid config."""
        if self._settings is None:
            from config.logging import setup_logging
            from config.state import ensure_state_dir
            from config.workspace import open_workspace

            self._settings = load_settings(self.config_path)
            ensure_state_dir(self._settings)
            setup_logging(self._settings)
            open_workspace(self._settings)  # personas and recipes exist from the first command on
        return self._settings


def app_state(ctx: typer.Context) -> AppState:
    """The AppState of the running command (created by the root callback)."""
    root = ctx.find_root()
    if not isinstance(root.obj, AppState):
        root.obj = AppState()
    return root.obj


def settings_of(ctx: typer.Context) -> Settings:
    """Shortcut: the Settings of the running command."""
    return app_state(ctx).settings


def emit_json(data: Any) -> None:
    """Print one JSON document on stdout and nothing else."""
    sys.stdout.write(json.dumps(data, default=str, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def new_typer(help_text: str) -> typer.Typer:
    """A sub-command group with the project's conventions."""
    return typer.Typer(help=help_text, no_args_is_help=True, cls=SelftuneGroup, add_completion=False)
