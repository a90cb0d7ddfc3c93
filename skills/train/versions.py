"""Adapter versions, reserved in SQLite at submit time so simultaneous submissions never share one.

A reservation is a row (name, version) under a UNIQUE key, inserted inside `BEGIN IMMEDIATE`: the write lock
makes "read the highest version, insert the next" one step, across threads and processes. Folders already on
disk count too (adapters trained before this table existed, or copied in by hand).
"""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path
from typing import Any

from config.errors import UsageError
from config.state import connect

SCHEMA = """
CREATE TABLE IF NOT EXISTS adapter_versions (
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    job_id TEXT,
    reserved_at REAL NOT NULL,
    UNIQUE (name, version)
);
"""
_VERSION = re.compile(r"v(\d+)")


def _on_disk(adapters_root: Path, name: str) -> int:
    """Highest vN folder (finished, or being written as a temp sibling) under adapters/<name>/."""
    numbers = [int(m.group(1)) for p in (adapters_root / name).glob("v*")
               if (m := _VERSION.fullmatch(p.name.split(".")[0]))]
    return max(numbers, default=0)


def _highest(conn: sqlite3.Connection, adapters_root: Path, name: str) -> int:
    row = conn.execute("SELECT MAX(version) FROM adapter_versions WHERE name = ?", (name,)).fetchone()
    return max(row[0] or 0, _on_disk(adapters_root, name))


def peek_version(settings: Any, name: str) -> str:
    """The version the next submission for `name` would get (reserves nothing: for previews and specs)."""
    conn = connect(settings)
    try:
        conn.executescript(SCHEMA)
        return f"v{_highest(conn, settings.artifacts_dir / 'adapters', name) + 1}"
    finally:
        conn.close()


def reserve_version(settings: Any, name: str, version: str | None = None) -> str:
    """Reserve `version` (or the next free one) for adapter `name`; a taken explicit version is refused."""
    number = _parse(version) if version else None
    root = settings.artifacts_dir / "adapters"
    conn = connect(settings)
    try:
        conn.executescript(SCHEMA)
        conn.execute("BEGIN IMMEDIATE")  # the write lock: nobody else reads MAX until we commit
        try:
            chosen = number if number is not None else _highest(conn, root, name) + 1
            if number is not None and (root / name / f"v{number}").exists():
                raise UsageError(f"Adapter {name}/v{number} already exists; leave the version out to get the next one.")
            conn.execute("INSERT INTO adapter_versions (name, version, reserved_at) VALUES (?, ?, ?)",
                         (name, chosen, time.time()))
        except sqlite3.IntegrityError:
            conn.execute("ROLLBACK")
            raise UsageError(f"Adapter version {name}/v{number} is already taken by another job; "
                             "leave the version out to get the next one.") from None
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return f"v{chosen}"
    finally:
        conn.close()


def bind_version(settings: Any, name: str, version: str, job_id: str) -> None:
    """Record which job a reserved version belongs to."""
    conn = connect(settings)
    try:
        conn.execute("UPDATE adapter_versions SET job_id = ? WHERE name = ? AND version = ?",
                     (job_id, name, _parse(version)))
    finally:
        conn.close()


def release_version(settings: Any, name: str, version: str) -> None:
    """Give back a reservation whose job was never created (the submission failed before it)."""
    conn = connect(settings)
    try:
        conn.execute("DELETE FROM adapter_versions WHERE name = ? AND version = ? AND job_id IS NULL",
                     (name, _parse(version)))
    finally:
        conn.close()


def _parse(version: str) -> int:
    match = _VERSION.fullmatch(version)
    if match is None:
        raise UsageError(f"Adapter version '{version}' is not of the form v1, v2, ...; leave it out to get the next one.")
    return int(match.group(1))
