"""The conversation log in SQLite: every message in and out, feedback on answers, harvest cursors.

SQLite is the source of truth; the Chroma index is derived from it and can be rebuilt (`reindex`).
Secrets (tokens, API keys, credentials) are replaced by placeholders before a message is stored, so
neither the log nor the index built from it ever holds one; personal data stays (harvesting scrubs it).
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from config.messages import ReplyKind
from config.scrub import SECRET_PATTERNS, scrub_text

Role = Literal["user", "assistant"]
# An assistant message's kind; "unknown" is a row logged before kinds were recorded (NULL in SQLite).
MessageKind = ReplyKind | Literal["unknown"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    transport TEXT NOT NULL,
    channel TEXT NOT NULL,
    author TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    text TEXT NOT NULL,
    created_at TEXT NOT NULL,
    ts REAL NOT NULL,
    reply_to TEXT,
    persona TEXT,
    adapter TEXT,
    indexed INTEGER NOT NULL DEFAULT 0,
    kind TEXT
);
CREATE INDEX IF NOT EXISTS messages_channel_ts ON messages (channel, ts);
CREATE INDEX IF NOT EXISTS messages_author ON messages (author);
CREATE INDEX IF NOT EXISTS messages_unindexed ON messages (indexed) WHERE indexed = 0;
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    user TEXT NOT NULL,
    rating INTEGER NOT NULL CHECK (rating IN (-1, 1)),
    created_at TEXT NOT NULL,
    UNIQUE (message_id, user)
);
CREATE TABLE IF NOT EXISTS memory_cursors (
    name TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    updated_at TEXT NOT NULL
);
"""

_COLUMNS = "seq, id, transport, channel, author, role, text, created_at, reply_to, persona, adapter, kind"
# Columns added after the first release: a log written by an older version gains them (old rows get NULL).
_ADDED_COLUMNS = {"persona": "TEXT", "adapter": "TEXT", "kind": "TEXT"}


def init_schema(conn: sqlite3.Connection) -> None:
    """Create the log's tables if missing and add columns an older log lacks."""
    conn.executescript(SCHEMA)
    present = {row[1] for row in conn.execute("PRAGMA table_info(messages)")}
    for name, sql_type in _ADDED_COLUMNS.items():
        if name not in present:
            _add_column(conn, name, sql_type)


def _add_column(conn: sqlite3.Connection, name: str, sql_type: str) -> None:
    """ALTER TABLE once; another process opening the same old log at the same moment may have done it first."""
    try:
        with conn:
            conn.execute(f"ALTER TABLE messages ADD COLUMN {name} {sql_type}")
    except sqlite3.OperationalError as exc:
        if "duplicate column" not in str(exc):
            raise


def utc_iso(moment: datetime) -> str:
    """One fixed ISO-8601 UTC format, so text comparisons order like times."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def new_id() -> str:
    """A fresh message id for transports that have none (console, CLI)."""
    return uuid.uuid4().hex


class LoggedMessage(BaseModel):
    """One message as stored: who said what, where, when, and which persona/adapter answered."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(default_factory=new_id, description="Transport message id (or generated).")
    seq: int | None = Field(None, description="Insertion order in the log; set when stored.")
    transport: str = "console"
    channel: str = "console"
    author: str = "local"
    role: Role = "user"
    text: str
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    reply_to: str | None = None
    persona: str | None = Field(None, description="Persona that answered (assistant messages).")
    adapter: str | None = Field(None, description="Adapter id that answered (assistant messages).")
    kind: MessageKind | None = Field(None, description=(
        "What an assistant message is: chat (a persona's answer, the only kind harvested), command, question, "
        "error, help, progress; unknown for rows logged before kinds were recorded. An assistant message "
        "logged without one is a chat answer (the Memory API's meaning before kinds existed)."))

    @model_validator(mode="after")
    def _assistant_kind(self) -> LoggedMessage:
        """Assistant messages always carry a kind; people's messages never do."""
        if self.role == "user":
            self.kind = None
        elif self.kind is None:
            self.kind = "chat"
        return self

    @property
    def ts(self) -> float:
        """Creation time as a Unix timestamp (what Chroma filters on)."""
        created = self.created_at if self.created_at.tzinfo else self.created_at.replace(tzinfo=UTC)
        return created.timestamp()


def _from_row(row: sqlite3.Row) -> LoggedMessage:
    data = dict(row)
    data["created_at"] = datetime.fromisoformat(data["created_at"])
    if data["role"] == "assistant" and data["kind"] is None:
        data["kind"] = "unknown"  # logged by a version that did not record kinds
    return LoggedMessage(**data)


def insert_messages(conn: sqlite3.Connection, messages: Iterable[LoggedMessage]) -> list[LoggedMessage]:
    """Store messages, secrets scrubbed (a message id seen before is ignored); return those newly stored, with seq."""
    stored = []
    with conn:
        for msg in map(without_secrets, messages):
            cur = conn.execute(
                "INSERT OR IGNORE INTO messages (id, transport, channel, author, role, text, created_at, ts,"
                " reply_to, persona, adapter, kind) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (msg.id, msg.transport, msg.channel, msg.author, msg.role, msg.text, utc_iso(msg.created_at),
                 msg.ts, msg.reply_to, msg.persona, msg.adapter, msg.kind),
            )
            if cur.rowcount:
                stored.append(msg.model_copy(update={"seq": cur.lastrowid}))
    return stored


def without_secrets(message: LoggedMessage) -> LoggedMessage:
    """The message with tokens, keys and credentials replaced by placeholders such as [DISCORD_TOKEN]."""
    clean, found = scrub_text(message.text, SECRET_PATTERNS)
    return message.model_copy(update={"text": clean}) if found else message


def mark_indexed(conn: sqlite3.Connection, ids: list[str]) -> None:
    """Record that these messages are in the recall index."""
    with conn:
        conn.executemany("UPDATE messages SET indexed = 1 WHERE id = ?", [(i,) for i in ids])


def unindexed(conn: sqlite3.Connection, limit: int = 1000) -> list[LoggedMessage]:
    """Messages stored in the log but not yet in the recall index (e.g. after a crash)."""
    rows = conn.execute(f"SELECT {_COLUMNS} FROM messages WHERE indexed = 0 ORDER BY seq LIMIT ?", (limit,))
    return [_from_row(r) for r in rows]


def get_message(conn: sqlite3.Connection, message_id: str) -> LoggedMessage | None:
    """One message by id, or None."""
    row = conn.execute(f"SELECT {_COLUMNS} FROM messages WHERE id = ?", (message_id,)).fetchone()
    return _from_row(row) if row else None


def get_messages(conn: sqlite3.Connection, ids: list[str]) -> dict[str, LoggedMessage]:
    """Messages by id (missing ids are left out)."""
    found: dict[str, LoggedMessage] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        marks = ",".join("?" * len(chunk))
        for row in conn.execute(f"SELECT {_COLUMNS} FROM messages WHERE id IN ({marks})", chunk):
            found[row["id"]] = _from_row(row)
    return found


def iter_messages(
    conn: sqlite3.Connection, *, channel: str | None = None, after_seq: int = 0, batch: int = 1000
) -> Iterator[LoggedMessage]:
    """All messages (of one channel, if given) after a seq, oldest first, read in batches."""
    last = after_seq
    while True:
        sql = f"SELECT {_COLUMNS} FROM messages WHERE seq > ?" + (" AND channel = ?" if channel else "")
        params: tuple = (last, channel) if channel else (last,)
        rows = conn.execute(sql + " ORDER BY seq LIMIT ?", (*params, batch)).fetchall()
        if not rows:
            return
        for row in rows:
            yield _from_row(row)
        last = rows[-1]["seq"]


def last_answer(conn: sqlite3.Connection, channel: str) -> LoggedMessage | None:
    """The newest persona answer (kind chat) in a channel: what `selftune feedback up` rates by default."""
    row = conn.execute(f"SELECT {_COLUMNS} FROM messages WHERE channel = ? AND role = 'assistant' AND kind = 'chat' "
                       "ORDER BY seq DESC LIMIT 1", (channel,)).fetchone()
    return _from_row(row) if row else None


def count_messages(conn: sqlite3.Connection) -> int:
    """How many messages the log holds."""
    return conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0]


def add_feedback(conn: sqlite3.Connection, message_id: str, user: str, rating: int) -> None:
    """Record (or change) one user's 👍 (+1) / 👎 (-1) on a message."""
    with conn:
        conn.execute(
            "INSERT INTO feedback (message_id, user, rating, created_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (message_id, user) DO UPDATE SET rating = excluded.rating, created_at = excluded.created_at",
            (message_id, user, rating, utc_iso(datetime.now(UTC))),
        )


def net_ratings(conn: sqlite3.Connection, channel: str) -> dict[str, int]:
    """Sum of 👍 (+1) and 👎 (-1) per rated message of a channel."""
    rows = conn.execute("SELECT f.message_id, SUM(f.rating) FROM feedback f JOIN messages m ON m.id = f.message_id"
                        " WHERE m.channel = ? GROUP BY f.message_id", (channel,))
    return {r[0]: r[1] for r in rows}


def get_cursor(conn: sqlite3.Connection, name: str) -> int:
    """The last seq a named incremental consumer (e.g. a harvest) has seen; 0 if never run."""
    row = conn.execute("SELECT seq FROM memory_cursors WHERE name = ?", (name,)).fetchone()
    return row[0] if row else 0


def set_cursor(conn: sqlite3.Connection, name: str, seq: int) -> None:
    """Remember how far a named incremental consumer got."""
    with conn:
        conn.execute(
            "INSERT INTO memory_cursors (name, seq, updated_at) VALUES (?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at",
            (name, seq, utc_iso(datetime.now(UTC))),
        )
