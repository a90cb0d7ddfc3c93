"""Shared CLI plumbing: lazy settings, JSON output, one-line errors instead of tracebacks."""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import sqlite3
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.panel import Panel
from rich.text import Text
from typer.core import TyperGroup

from config.errors import DISK_FULL, SelftuneError, disk_full_text, report_internal_error
from config.settings import Settings, load_settings

log = logging.getLogger(__name__)

# Words people type for a command that is spelled otherwise here (too far apart for a spelling suggestion).
COMMAND_SYNONYMS = {"tune": "train", "finetune": "train", "fine-tune": "train", "fit": "train",
                    "evaluate": "eval", "status": "jobs", "promote": "adapters", "models": "adapters",
                    "list": "adapters", "start": "run", "install": "setup", "check": "doctor"}

# Human output goes to stderr-free stdout via rich; --json output bypasses rich entirely.
console = Console()
err_console = Console(stderr=True)


class SelftuneGroup(TyperGroup):
    """Every failure under this group becomes one sentence and an exit code, never a traceback.

    With --json the sentence goes to stdout as {"ok": false, "error", "exit_code"}; our own bugs get an
    error id and their traceback goes only to the log file.
    """

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        """An unknown command names the closest one: a near spelling (typer's own), else the usual synonym."""
        try:
            return super().resolve_command(ctx, args)
        except typer.TyperException as exc:  # typer's own click UsageError ("No such command")
            meant = COMMAND_SYNONYMS.get(args[0].lower()) if args else None
            message = getattr(exc, "message", None)
            if isinstance(message, str) and meant in self.commands and "Did you mean" not in message:
                exc.message = f"{message.rstrip('.')}. Did you mean '{meant}'?"
            raise

    def invoke(self, ctx: typer.Context) -> Any:
        as_json = "--json" in [*ctx._protected_args, *ctx.args]  # the sub-command's args, before they are consumed
        try:
            return super().invoke(ctx)
        except (typer.TyperException, typer.Exit, typer.Abort):  # usage errors: typer prints them itself
            raise
        except SelftuneError as exc:
            _fail(str(exc), exc.exit_code, as_json)
        except Exception as exc:
            _fail(failure_sentence(exc, ctx), 1, as_json)


def for_people(value: Any) -> str:
    """A number as people read it (4 significant digits: loss 1.296, not 1.296480417251587); --json keeps all."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def _fail(sentence: str, exit_code: int, as_json: bool) -> None:
    """End the command with one sentence: a JSON document on stdout with --json, else an error box on stderr."""
    if as_json:
        emit_json({"ok": False, "error": sentence, "exit_code": exit_code})
    else:
        # The same box typer draws for usage errors, drawn here so only typer's public API is used.
        err_console.print(Panel(Text(sentence), border_style="red", title="Error", title_align="left"))
    raise typer.Exit(exit_code)


def failure_sentence(exc: Exception, ctx: typer.Context) -> str:
    """One sentence for an unexpected exception: state and file problems say what to do, bugs get an id."""
    state = app_state(ctx)._settings
    full = disk_full_text(exc, state.home if state is not None else None)
    if full is not None:
        log.info("%s", full, exc_info=exc)
        return full
    if isinstance(exc, sqlite3.DatabaseError) and state is not None:
        from config.state import database_problem

        problem = database_problem(state, exc)
        if problem is not None and _blames_selftune_db(state, exc):
            return str(problem)
    if isinstance(exc, OSError) and exc.filename:
        sentence = os_error_sentence(exc)
        if sentence:
            log.info("%s", sentence, exc_info=exc)  # the details for the log file; the terminal gets the sentence
            return sentence
    _open_log_file(ctx)
    return report_internal_error(log, exc, f"running `{ctx.command_path} {ctx.invoked_subcommand or ''}`".strip())


def _open_log_file(ctx: typer.Context) -> None:
    """Make sure the traceback reaches <home>/logs/selftune.log (settings set logging up on first use)."""
    with contextlib.suppress(Exception):  # the settings themselves are broken: the error id still reaches stderr
        _ = app_state(ctx).settings


def _blames_selftune_db(settings: Settings, exc: sqlite3.DatabaseError) -> bool:
    """Chroma keeps its own SQLite file: call selftune.db damaged only when its integrity check agrees."""
    from config.state import DAMAGED, error_code, integrity_problem

    if error_code(exc) not in DAMAGED and "malformed" not in str(exc):
        return True  # cannot open or write: the sentence names the folder to fix either way
    try:
        return integrity_problem(settings.db_path) is not None
    except sqlite3.Error:
        return True


def os_error_sentence(exc: OSError) -> str | None:
    """A file the user pointed at (or the disk) refused: say which file and what to do; None for others."""
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return (f"selftune is not allowed to use {exc.filename} ({exc.strerror}); choose a path you can write "
                "to or change its permissions.")
    if exc.errno in DISK_FULL:
        return disk_full_text(exc)
    if exc.errno in (errno.ENOTDIR, errno.EISDIR, errno.EEXIST):
        return (f"{exc.filename} cannot be used ({exc.strerror}); check the path: a file stands where a folder "
                "is expected, or the reverse.")
    return None


@dataclass
class AppState:
    """Per-invocation state: the config path given on the command line and the Settings built from it."""

    config_path: Path | None = None
    verbose: bool = False
    _settings: Settings | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        """Settings, built on first use so `--help` never needs a valid config."""
        if self._settings is None:
            from config.logging import setup_logging
            from config.state import ensure_state_dir, unusable_home
            from config.workspace import open_workspace

            settings = load_settings(self.config_path)
            ensure_state_dir(settings)
            try:
                setup_logging(settings, verbose=self.verbose)
            except OSError as exc:  # logs/selftune.log cannot be opened: the state dir is read-only
                raise unusable_home(settings, exc) from None
            self._settings = settings
            open_workspace(settings)  # personas and recipes exist from the first command on
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
