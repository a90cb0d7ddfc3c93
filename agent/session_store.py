"""Sessions in selftune.db, so a follow-up works across `selftune chat` calls and a bot restart keeps them.

One row per channel (keyed by transport and channel), its state as JSON, and when it was last touched;
a row older than `agent.session_ttl_s` is forgotten when read. A store that cannot be reached never
costs the user their reply: the conversation then simply lives in this process only.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from typing import Any

from config.scrub import scrub_secrets
from config.settings import Settings
from config.state import connect

log = logging.getLogger(__name__)
SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    transport TEXT NOT NULL,
    channel TEXT NOT NULL,
    state TEXT NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (transport, channel)
);
"""


def init_schema(conn: sqlite3.Connection) -> None:
    """Create the sessions table if missing."""
    conn.executescript(SCHEMA)


def _without_secrets(value: Any) -> Any:
    """The state with every string scrubbed of secrets (a key pasted into chat sits in the session's history)."""
    if isinstance(value, str):
        return scrub_secrets(value)
    if isinstance(value, dict):
        return {k: _without_secrets(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_without_secrets(v) for v in value]
    return value


class SessionStore:
    """Load and save channel sessions; expired ones are deleted on read."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.ttl_s = settings.agent.session_ttl_s
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()  # the bot answers from several threads; one statement at a time here

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = connect(self.settings)
            init_schema(self._conn)
        return self._conn

    def load(self, transport: str, channel: str) -> dict[str, Any] | None:
        """The stored state of a channel, or None when there is none or it is older than the TTL."""
        try:
            with self._lock:
                return self._load(transport, channel)
        except (sqlite3.Error, ValueError):  # a broken store: carry on with a fresh session
            log.warning("cannot read the stored session of %s:%s", transport, channel, exc_info=True)
            return None

    def _load(self, transport: str, channel: str) -> dict[str, Any] | None:
        db = self._db()
        key = (transport, channel)
        row = db.execute("SELECT state, updated_at FROM sessions WHERE transport = ? AND channel = ?", key).fetchone()
        if row is None:
            return None
        if time.time() - row["updated_at"] > self.ttl_s:
            db.execute("DELETE FROM sessions WHERE transport = ? AND channel = ?", key)
            return None
        state = json.loads(row["state"])
        return state if isinstance(state, dict) else None

    def save(self, transport: str, channel: str, state: dict[str, Any]) -> None:
        """Store a channel's state now (it expires session_ttl_s after this)."""
        try:
            with self._lock:
                self._db().execute(
                    "INSERT INTO sessions (transport, channel, state, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT "
                    "(transport, channel) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
                    (transport, channel, json.dumps(_without_secrets(state), default=str), time.time()))
        except sqlite3.Error:
            log.warning("cannot store the session of %s:%s", transport, channel, exc_info=True)

    def close(self) -> None:
        """Close the database connection (reopened on next use)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
