"""The state directory: created on first use with the layout the design describes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from config.settings import Settings

SUBDIRS = ("chroma", "workspace", "artifacts", "models", "holdout", "logs")


def ensure_state_dir(settings: Settings) -> Path:
    """Create SELFTUNE_HOME and its sub-folders if missing; return the home path."""
    home = settings.home
    for name in SUBDIRS:
        (home / name).mkdir(parents=True, exist_ok=True)
    return home


def connect(settings: Settings) -> sqlite3.Connection:
    """Open selftune.db in WAL mode with a busy timeout (many readers, one writer at a time)."""
    ensure_state_dir(settings)
    conn = sqlite3.connect(settings.db_path, timeout=30, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn
