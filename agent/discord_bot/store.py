"""The bot's own SQLite tables: handled message ids (no duplicate replies after a reconnect),
which bot message answered which prompt, and 👍/👎 feedback on those answers."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict

from config.settings import Settings
from config.state import connect

SCHEMA = """
CREATE TABLE IF NOT EXISTS discord_handled (
    message_id INTEGER PRIMARY KEY, channel_id INTEGER, handled_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS discord_replies (
    reply_id INTEGER PRIMARY KEY, channel_id INTEGER NOT NULL, prompt_message_id INTEGER,
    asker_id INTEGER, prompt TEXT NOT NULL, reply TEXT NOT NULL, intent TEXT, persona TEXT,
    created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS discord_feedback (
    reply_id INTEGER NOT NULL REFERENCES discord_replies(reply_id), user_id INTEGER NOT NULL,
    rating INTEGER NOT NULL CHECK (rating IN (-1, 1)), created_at TEXT NOT NULL,
    PRIMARY KEY (reply_id, user_id));
"""


class ReplyRecord(BaseModel):
    """One assistant answer posted in Discord and the prompt it answered."""

    model_config = ConfigDict(extra="forbid")

    reply_id: int
    channel_id: int
    prompt_message_id: int | None
    asker_id: int | None
    prompt: str
    reply: str
    intent: str | None = None
    persona: str | None = None


class FeedbackRow(BaseModel):
    """A 👍 (+1) or 👎 (-1) on an assistant answer, with the pair it rates."""

    model_config = ConfigDict(extra="forbid")

    reply_id: int
    user_id: int
    rating: int
    prompt: str
    reply: str
    persona: str | None
    channel_id: int


def init_schema(conn: sqlite3.Connection) -> None:
    """Create the bot's tables if missing."""
    conn.executescript(SCHEMA)


def _now() -> str:
    return datetime.now(UTC).isoformat()


class BotStore:
    """Thread-safe access to the bot's tables (calls are short; one lock keeps writes ordered)."""

    def __init__(self, settings: Settings) -> None:
        self._conn = connect(settings)
        self._lock = threading.Lock()
        init_schema(self._conn)

    def claim(self, message_id: int, channel_id: int) -> bool:
        """Mark a message as handled; False when it already was (a replayed event)."""
        with self._lock:
            cur = self._conn.execute(
                "INSERT OR IGNORE INTO discord_handled VALUES (?, ?, ?)", (message_id, channel_id, _now())
            )
        return cur.rowcount == 1

    def add_reply(self, record: ReplyRecord) -> None:
        """Remember which bot message answered which prompt."""
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO discord_replies VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*record.model_dump().values(), _now()),
            )

    def reply(self, reply_id: int) -> ReplyRecord | None:
        """The answer posted as message `reply_id`, or None when it is not ours."""
        row = self._conn.execute("SELECT * FROM discord_replies WHERE reply_id = ?", (reply_id,)).fetchone()
        if row is None:
            return None
        return ReplyRecord(**{k: row[k] for k in ReplyRecord.model_fields})

    def set_feedback(self, reply_id: int, user_id: int, rating: int | None) -> None:
        """Store (or with None, withdraw) one user's rating of one answer."""
        with self._lock:
            if rating is None:
                self._conn.execute(
                    "DELETE FROM discord_feedback WHERE reply_id = ? AND user_id = ?", (reply_id, user_id)
                )
                return
            self._conn.execute(
                "INSERT OR REPLACE INTO discord_feedback VALUES (?, ?, ?, ?)", (reply_id, user_id, rating, _now())
            )

    def feedback(self, persona: str | None = None) -> list[FeedbackRow]:
        """All ratings with the prompt/answer they rate (optionally one persona's)."""
        sql = (
            "SELECT f.reply_id, f.user_id, f.rating, r.prompt, r.reply, r.persona, r.channel_id "
            "FROM discord_feedback f JOIN discord_replies r USING (reply_id)"
        )
        params: tuple[str, ...] = ()
        if persona is not None:
            sql, params = sql + " WHERE r.persona = ?", (persona,)
        rows = self._conn.execute(sql + " ORDER BY f.created_at", params).fetchall()
        return [FeedbackRow(**dict(row)) for row in rows]

    def close(self) -> None:
        """Close the database connection."""
        self._conn.close()
