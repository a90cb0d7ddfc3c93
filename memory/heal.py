"""The recall index heals itself: a missing or short Chroma index is rebuilt from the conversation log.

The log is the source of truth and records which messages were indexed; every message has at least one chunk,
so an index holding fewer chunks than the log has indexed messages lost some (its folder was deleted, a backup
was restored without it). One process at a time rebuilds: it holds `chroma.rebuilding` (its pid and progress),
and a search anywhere meanwhile says the index is being rebuilt instead of finding nothing.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from config.errors import SelftuneError


class IndexRebuilding(SelftuneError):
    """The recall index is being rebuilt from the log; a search now would miss what it has not reached yet."""


class RebuildState(BaseModel):
    """What the rebuild marker holds: who rebuilds, since when, how far."""

    model_config = ConfigDict(extra="ignore")
    pid: int
    started: float
    done: int = 0
    total: int = 0


def marker_path(home: Path) -> Path:
    """The file that says a rebuild is under way (beside chroma/, so a rebuild that drops chroma/ keeps it)."""
    return home / "chroma.rebuilding"


def indexed_count(conn: sqlite3.Connection) -> int:
    """How many logged messages the log says are in the index."""
    return conn.execute("SELECT COUNT(*) FROM messages WHERE indexed = 1").fetchone()[0]


def is_short(chunks: int, indexed: int) -> bool:
    """True when the index holds fewer chunks than the log has indexed messages (each has one at least)."""
    return chunks < indexed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def current(home: Path) -> RebuildState | None:
    """The rebuild under way, or None (a marker left by a process that died is removed)."""
    path = marker_path(home)
    try:
        state = RebuildState.model_validate_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):  # half-written by its owner just now: treat as under way
        return RebuildState(pid=os.getpid(), started=time.time())
    if _alive(state.pid):
        return state
    path.unlink(missing_ok=True)
    return None


def claim(home: Path, total: int) -> bool:
    """Become the one rebuilding process; False when another (live) one already is."""
    path = marker_path(home)
    for _ in range(2):  # once more after clearing a dead process's marker
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            if current(home) is not None:
                return False
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(RebuildState(pid=os.getpid(), started=time.time(), total=total).model_dump_json())
        return True
    return False


def record_progress(home: Path, done: int, total: int) -> None:
    """Update the marker's count (atomically, so a reader never sees half a file)."""
    path = marker_path(home)
    state = current(home)
    if state is None or state.pid != os.getpid():
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({**state.model_dump(), "done": done, "total": total}), encoding="utf-8")
    os.replace(tmp, path)


def release(home: Path) -> None:
    """The rebuild is over (finished or failed)."""
    marker_path(home).unlink(missing_ok=True)


def rebuilding_error(state: RebuildState) -> IndexRebuilding:
    """The sentence a search gets while the index is rebuilt."""
    progress = f" ({state.done} of {state.total} messages so far)" if state.total else ""
    return IndexRebuilding(f"The recall index is being rebuilt from the conversation log{progress}; "
                           "search again in a minute.")
