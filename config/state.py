"""The state directory and selftune.db: created on first use, backed up before a schema change, and every
problem with them (a damaged, unreadable or unwritable file) reported as one sentence that says what to do.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from config.errors import SelftuneError, note_state_dir
from config.machine_cache import link_models
from config.scrub import remember_secrets
from config.settings import Settings, secret_values

SUBDIRS = ("chroma", "workspace", "artifacts", "holdout", "logs")  # models/ links to the machine cache
# Bump when a table of selftune.db changes: the first connect under the new version copies the old file to
# selftune.db.bak (SQLite's backup API) before any module migrates its tables.
SCHEMA_VERSION = 1
DAMAGED = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})
NO_ACCESS = frozenset({sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM,
                       sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL, sqlite3.SQLITE_AUTH})


class StateError(SelftuneError):
    """The state directory or its database cannot be used; the message names the file and what to do."""


def backup_path(settings: Settings) -> Path:
    """Where the automatic pre-migration backup of selftune.db lives."""
    return settings.db_path.with_name(settings.db_path.name + ".bak")


def ensure_state_dir(settings: Settings) -> Path:
    """Create SELFTUNE_HOME and its sub-folders if missing; return the home path."""
    home = settings.home
    note_state_dir(home)
    try:
        for name in SUBDIRS:
            (home / name).mkdir(parents=True, exist_ok=True)
        link_models(settings)
    except OSError as exc:
        raise unusable_home(settings, exc) from None
    return home


def unusable_home(settings: Settings, exc: OSError) -> StateError:
    """The sentence for a state directory that cannot be created or written."""
    where = exc.filename or settings.home
    return StateError(f"selftune cannot write its state directory {settings.home} ({where}: {exc.strerror}); "
                      "make it writable for this user or set SELFTUNE_HOME to a folder you own.")


def connect(settings: Settings) -> sqlite3.Connection:
    """Open selftune.db in WAL mode with a busy timeout (many readers, one writer at a time)."""
    ensure_state_dir(settings)
    remember_secrets(secret_values(settings))  # whatever is stored in it is scrubbed of the configured secrets
    conn = None
    try:
        conn = sqlite3.connect(settings.db_path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")  # also the first read of the file: damage shows here
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("PRAGMA foreign_keys=ON")
        _migrate(conn, settings)
    except BaseException as exc:
        if conn is not None:
            conn.close()
        problem = database_problem(settings, exc) if isinstance(exc, sqlite3.DatabaseError) else None
        if problem is None:
            raise
        raise problem from None
    return conn


def check_database(settings: Settings) -> None:
    """Open and close selftune.db, so a damaged or unwritable file is one sentence before any work starts."""
    connect(settings).close()


def _migrate(conn: sqlite3.Connection, settings: Settings) -> None:
    """Record SCHEMA_VERSION in the file, backing up a file written by an older schema first."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version >= SCHEMA_VERSION:
        return
    if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
        found = conn.execute("PRAGMA quick_check(1)").fetchone()[0]
        if found != "ok":  # the backup API copies pages as they are: never let damage replace the last good copy
            raise StateError(f"selftune's database {settings.db_path} is damaged ({found}); {repair_hint(settings)}")
        backup_database(conn, backup_path(settings))
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def backup_database(conn: sqlite3.Connection, target: Path) -> None:
    """Copy an open database to `target` with SQLite's online backup API (consistent even while in use)."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    dest = sqlite3.connect(tmp)
    try:
        conn.backup(dest)
    finally:
        dest.close()
    os.replace(tmp, target)  # a crash mid-copy never leaves a half-written backup behind


def database_problem(settings: Settings, exc: sqlite3.Error) -> StateError | None:
    """The sentence for a damaged or inaccessible selftune.db; None when the error is something else."""
    code = error_code(exc)
    db = settings.db_path
    if code in DAMAGED or "malformed" in str(exc):
        return StateError(f"selftune's database {db} is damaged ({exc}); {repair_hint(settings)}")
    if code in NO_ACCESS:
        return StateError(f"selftune cannot open or write its database {db} ({exc}); make {settings.home} "
                          "writable for this user or set SELFTUNE_HOME to a folder you own.")
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return StateError(f"selftune's database {db} stayed locked by another process for 30 s ({exc}); wait "
                          "for that command to finish, or stop it, and try again.")
    return None


def repair_hint(settings: Settings) -> str:
    """What to do about a damaged database: the backup if there is one, else a fresh start."""
    if backup_path(settings).is_file():
        return (f"run `selftune doctor --repair` to set it aside and restore the backup "
                f"{backup_path(settings)} taken before the last schema change.")
    return "run `selftune doctor --repair` to set it aside and start a fresh, empty database."


def integrity_problem(path: Path) -> str | None:
    """What `PRAGMA integrity_check` finds wrong with a database file; None when it is sound or absent.

    A file that cannot be opened at all (permissions, a folder in its place) raises the sqlite3 error:
    that is not damage, and setting the file aside would not fix it.
    """
    if not path.exists():
        return None
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        try:
            rows = [r[0] for r in conn.execute("PRAGMA integrity_check(5)")]
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        if error_code(exc) in NO_ACCESS:
            raise
        return str(exc)
    return None if rows == ["ok"] else "; ".join(rows)


def error_code(exc: sqlite3.Error) -> int:
    """The primary SQLite result code of an error (extended codes carry it in their low byte)."""
    return (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF


def repair_database(settings: Settings) -> tuple[str, bool]:
    """Set a damaged selftune.db aside and restore the backup or start fresh; say which, and whether it did."""
    db, backup = settings.db_path, backup_path(settings)
    problem = integrity_problem(db)
    if problem is None:
        return f"{db} passes the integrity check; nothing to repair.", False
    aside = db.with_name(f"{db.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
    for suffix in ("", "-wal", "-shm"):  # the log files belong to the damaged file, not to the new one
        part = Path(f"{db}{suffix}")
        if part.exists():
            os.replace(part, Path(f"{aside}{suffix}"))
    if backup.is_file() and integrity_problem(backup) is None:
        _restore(backup, db)
        return f"Moved the damaged database to {aside} and restored the backup {backup}", True
    connect(settings).close()
    reason = "the backup is damaged too" if backup.is_file() else "there was no backup"
    return f"Moved the damaged database to {aside} and started a fresh, empty one ({reason})", True


def _restore(backup: Path, db: Path) -> None:
    source = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
    dest = sqlite3.connect(db)
    try:
        source.backup(dest)
    finally:
        dest.close()
        source.close()
