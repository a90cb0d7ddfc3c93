"""Error types whose messages are safe to show to users (one sentence: what, where, what to do)."""

import errno
import logging
import shutil
import sqlite3
import uuid
from pathlib import Path

DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})
_state_dir: Path | None = None  # where selftune writes most: the disk named when a full disk's error names no file


class SelftuneError(Exception):
    """An expected failure; its message is shown to the user as is, never with a traceback."""

    exit_code = 1


class ConfigError(SelftuneError):
    """The configuration file or environment holds an invalid value."""


class UsageError(SelftuneError):
    """The user asked for something in a way that cannot work (CLI exit code 2)."""

    exit_code = 2


class PermissionDenied(SelftuneError):
    """The requester's identity does not grant the permission a skill needs."""


class NotFound(SelftuneError):
    """A named thing (job, adapter, persona, skill, file) does not exist."""


def note_state_dir(home: Path) -> None:
    """Remember the state directory, for the sentence about a full disk whose error names no file."""
    global _state_dir
    _state_dir = home


def _free_mb(path: Path) -> int | None:
    """Free megabytes on the disk holding `path` (its nearest existing folder); None when unknown."""
    for folder in (path, *path.parents):
        try:
            return shutil.disk_usage(folder).free // 2**20
        except OSError:
            continue
    return None


def _disk_full(exc: BaseException) -> tuple[BaseException, str | None] | None:
    """The out-of-space error in exc or what caused it, with the file it names; None when there is none."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in DISK_FULL:
            return exc, exc.filename if isinstance(exc.filename, str) else None
        if isinstance(exc, sqlite3.Error) and getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
            return exc, None
        exc = exc.__cause__ or exc.__context__
    return None


def disk_full_text(exc: BaseException, near: Path | None = None) -> str | None:
    """"The disk holding … is full (N MB free)" for ENOSPC/EDQUOT (or SQLite's full disk), else None."""
    found = _disk_full(exc)
    if found is None:
        return None
    path = Path(found[1]) if found[1] else near or _state_dir or Path.cwd()
    free = _free_mb(path)
    room = f"{free} MB free" if free is not None else "no free space"
    return f"The disk holding {path} is full ({room}); free some space there (or point selftune elsewhere) and try again."


def report_internal_error(log: logging.Logger, exc: BaseException, where: str) -> str:
    """Log our own bug's traceback under a fresh error id; return the one sentence users see instead.

    A full disk is not a bug: it gets its own sentence, naming the disk and its free space."""
    full = disk_full_text(exc)
    if full is not None:
        log.warning("%s (%s)", full, where, exc_info=exc)
        return full
    error_id = uuid.uuid4().hex[:8]
    log.error("internal error %s %s", error_id, where, exc_info=exc)
    return f"Something went wrong on my side {where} (error id {error_id}); the details are in selftune's log."


def user_error_text(exc: BaseException, log: logging.Logger, where: str) -> str:
    """One sentence for any failure: a SelftuneError's message as it is, anything else as an error id."""
    return str(exc) if isinstance(exc, SelftuneError) else report_internal_error(log, exc, where)
