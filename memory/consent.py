"""Consent per channel: whether its conversations may be harvested into training data, and who said so when.

Changes are appended, never overwritten, so the history of who turned collection on or off is kept.
The latest change wins; a channel nobody opted in is not consented.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict

from config.settings import Settings
from config.state import connect
from memory.log import utc_iso

SCHEMA = """
CREATE TABLE IF NOT EXISTS consent_changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    channel TEXT NOT NULL,
    enabled INTEGER NOT NULL,
    changed_by TEXT NOT NULL,
    changed_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS consent_changes_channel ON consent_changes (channel, id);
"""


class ConsentChange(BaseModel):
    """One change of a channel's consent."""

    model_config = ConfigDict(extra="forbid")

    channel: str
    enabled: bool
    changed_by: str
    changed_at: datetime


def init_schema(conn: sqlite3.Connection) -> None:
    """Create the consent table if missing."""
    conn.executescript(SCHEMA)


def set_consent(conn: sqlite3.Connection, channel: str, enabled: bool, changed_by: str) -> ConsentChange:
    """Turn harvesting of a channel on or off, recording who did it and when."""
    change = ConsentChange(channel=channel, enabled=enabled, changed_by=changed_by, changed_at=datetime.now(UTC))
    with conn:
        conn.execute(
            "INSERT INTO consent_changes (channel, enabled, changed_by, changed_at) VALUES (?, ?, ?, ?)",
            (channel, int(enabled), changed_by, utc_iso(change.changed_at)),
        )
    return change


def current_consent(conn: sqlite3.Connection, channel: str) -> ConsentChange | None:
    """The latest consent change of a channel, or None if it was never set."""
    row = conn.execute(
        "SELECT channel, enabled, changed_by, changed_at FROM consent_changes WHERE channel = ?"
        " ORDER BY id DESC LIMIT 1",
        (channel,),
    ).fetchone()
    if row is None:
        return None
    return ConsentChange(channel=row[0], enabled=bool(row[1]), changed_by=row[2],
                         changed_at=datetime.fromisoformat(row[3]))


def is_consented(conn: sqlite3.Connection, channel: str) -> bool:
    """True only when the channel's latest change turned harvesting on."""
    change = current_consent(conn, channel)
    return bool(change and change.enabled)


def consent_history(conn: sqlite3.Connection, channel: str) -> list[ConsentChange]:
    """Every consent change of a channel, oldest first."""
    rows = conn.execute(
        "SELECT channel, enabled, changed_by, changed_at FROM consent_changes WHERE channel = ? ORDER BY id",
        (channel,),
    ).fetchall()
    return [ConsentChange(channel=r[0], enabled=bool(r[1]), changed_by=r[2],
                          changed_at=datetime.fromisoformat(r[3])) for r in rows]


def consented_list(conn: sqlite3.Connection) -> list[str]:
    """Every channel whose latest consent change turned harvesting on."""
    rows = conn.execute(
        "SELECT channel FROM consent_changes c WHERE id = (SELECT MAX(id) FROM consent_changes"
        " WHERE channel = c.channel) AND enabled = 1 ORDER BY channel"
    )
    return [r[0] for r in rows]


def consented_channels(settings: Settings) -> list[str]:
    """Channels that currently allow harvesting (for callers without an open Memory, e.g. the Router)."""
    conn = connect(settings)
    try:
        init_schema(conn)
        return consented_list(conn)
    finally:
        conn.close()
