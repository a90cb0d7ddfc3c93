"""Forgetting: remove messages by user, channel or age from BOTH the SQLite log and the recall index.

The index is cleaned first: if we crash halfway, the log still lists what is left to forget and the
same request finishes the job. SQLite deletes use secure_delete and a WAL checkpoint, so the text
does not linger in free pages or the write-ahead log.

A forget that was asked about first removes exactly what the question counted: the question fixes the set
(`through_seq`, the newest message then, or the message ids of a query), so a message logged between the
question and the yes is kept, and the count in the answer is the count in the question.
"""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ConfigDict

from config.errors import PermissionDenied, UsageError
from memory.log import utc_iso
from memory.recall import RecallIndex, build_where


class ForgetResult(BaseModel):
    """What a forget request removed."""

    model_config = ConfigDict(extra="forbid")

    messages: int
    feedback: int
    user: str | None = None
    channel: str | None = None
    before: datetime | None = None


def init_schema(conn: sqlite3.Connection) -> None:
    """forgotten_messages: ids forgotten whose derived data (dataset rows) is not cleaned yet (ids only, no text)."""
    conn.execute("CREATE TABLE IF NOT EXISTS forgotten_messages (id TEXT PRIMARY KEY, forgotten_at REAL NOT NULL)")


def pending_forgotten(conn: sqlite3.Connection) -> list[str]:
    """Ids of forgotten messages whose dataset rows may still exist (every forget, retention included, adds them)."""
    init_schema(conn)
    return [r[0] for r in conn.execute("SELECT id FROM forgotten_messages ORDER BY forgotten_at, id")]


def clear_forgotten(conn: sqlite3.Connection, ids: list[str]) -> None:
    """Mark these forgotten messages' derived data as cleaned."""
    with conn:
        conn.executemany("DELETE FROM forgotten_messages WHERE id = ?", [(i,) for i in ids])


def forget_targets(scope: str, *, asker: str, admin: bool, user: str | None, channel: str | None,
                   here: str | None = None) -> tuple[str | None, str | None]:
    """Whose messages (None: everyone's) in which channel (None: every channel) a forget request means.

    'me' is the asker's own, 'user' another person's (admin), 'channel' everyone's in a channel (admin).
    With 'me' or 'user' another channel than the one asked from (`here`) narrows it to that channel; `here`
    itself is what a chat command fills in for every skill with a channel, so there it means every channel.
    """
    if scope not in ("me", "user", "channel"):
        raise UsageError(f"Scope '{scope}' is not one of me, user or channel.")
    if scope == "user" and not user:
        raise UsageError("Say whose messages to forget (user).")
    if scope == "channel" and not channel:
        raise UsageError("Say which channel to forget (channel).")
    target_user = asker if scope == "me" else (user if scope == "user" else None)
    if (target_user != asker) and not admin:
        raise PermissionDenied("Only admins can forget other people's messages or whole channels; "
                               "you can forget your own with scope 'me' (in one channel with channel=...).")
    if scope != "channel" and channel == here:
        channel = None
    return target_user, channel or None


def latest_seq(conn: sqlite3.Connection) -> int:
    """The seq of the newest logged message (0 for an empty log): what a question fixes its set with."""
    return int(conn.execute("SELECT COALESCE(MAX(seq), 0) FROM messages").fetchone()[0])


def _conditions(user: str | None, channel: str | None, before: datetime | None,
                ids: list[str] | None = None, through_seq: int | None = None) -> tuple[str, list[object]]:
    clauses: list[str] = []
    params: list[object] = []
    if through_seq is not None:
        clauses.append("seq <= ?")
        params.append(through_seq)
    if ids is not None:
        clauses.append(f"id IN ({','.join('?' * len(ids))})")
        params.extend(ids)
    if user is not None:
        clauses.append("author = ?")
        params.append(user)
    if channel is not None:
        clauses.append("channel = ?")
        params.append(channel)
    if before is not None:
        clauses.append("created_at < ?")
        params.append(utc_iso(before))
    return " AND ".join(clauses), params


def parse_before(text: str | None) -> datetime | None:
    """A `--before` date from the user ('2026-01-31' or '2026-01-31T18:00'), in UTC when no zone is given."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"'{text}' is not a date; write it like 2026-01-31 or 2026-01-31T18:00.") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def count_matching(conn: sqlite3.Connection, *, user: str | None = None, channel: str | None = None,
                   before: datetime | None = None, through_seq: int | None = None,
                   ids: list[str] | None = None) -> int:
    """How many logged messages a forget with these conditions would remove (to say so before doing it)."""
    if ids is not None and not ids:
        return 0
    where_sql, params = _conditions(user, channel, before, ids, through_seq)
    row = conn.execute(f"SELECT COUNT(*) FROM messages WHERE {where_sql or '1'}", params).fetchone()
    return int(row[0])


def forget(
    conn: sqlite3.Connection, index: RecallIndex, *,
    user: str | None = None, channel: str | None = None, before: datetime | None = None,
    ids: list[str] | None = None, through_seq: int | None = None,
) -> ForgetResult:
    """Delete every message matching all given conditions (and feedback on them) from log and index.

    `ids` and `through_seq` fix the set a question announced (see the module docstring): they only narrow."""
    if user is None and channel is None and before is None and ids is None:
        raise UsageError("Say what to forget: give a user, a channel or a date (--user, --channel, --before).")
    if ids is not None and not ids:
        return ForgetResult(messages=0, feedback=0, user=user, channel=channel, before=before)
    where_sql, params = _conditions(user, channel, before, ids, through_seq)
    chosen = ids is not None
    ids = [r[0] for r in conn.execute(f"SELECT id FROM messages WHERE {where_sql}", params)]
    # By id for what the log knows, by filter for chunks the log lost track of (e.g. after a crash) - except
    # for a chosen set, where the filter would also reach messages outside it.
    until = _asked_before(conn, through_seq, before)
    index.delete(message_ids=ids, where=None if chosen else build_where(channel=channel, author=user, until=until))
    feedback = _delete_rows(conn, where_sql, params, ids)
    return ForgetResult(messages=len(ids), feedback=feedback, user=user, channel=channel, before=before)


def _asked_before(conn: sqlite3.Connection, through_seq: int | None, before: datetime | None) -> datetime | None:
    """The time bound for index chunks: `before`, and for a fixed set not past its newest message's time."""
    if through_seq is None:
        return before
    row = conn.execute("SELECT MAX(created_at) FROM messages WHERE seq <= ?", (through_seq,)).fetchone()
    if row is None or row[0] is None:
        return before
    newest = datetime.fromisoformat(row[0]) + timedelta(microseconds=1)
    return newest if before is None else min(before, newest)


def _delete_rows(conn: sqlite3.Connection, where_sql: str, params: list[object], ids: list[str]) -> int:
    init_schema(conn)
    conn.execute("PRAGMA secure_delete = ON")
    with conn:  # in the same transaction: a crash never loses which dataset rows are still to be removed
        now = time.time()
        conn.executemany("INSERT OR IGNORE INTO forgotten_messages (id, forgotten_at) VALUES (?, ?)",
                         [(i, now) for i in ids])
        feedback = conn.execute(
            f"DELETE FROM feedback WHERE message_id IN (SELECT id FROM messages WHERE {where_sql})", params
        ).rowcount
        conn.execute(f"DELETE FROM messages WHERE {where_sql}", params)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return feedback


def apply_retention(conn: sqlite3.Connection, index: RecallIndex, retention_days: int | None) -> ForgetResult | None:
    """Forget messages older than the retention policy (settings.memory.retention_days); None if unset."""
    if retention_days is None:
        return None
    return forget(conn, index, before=datetime.now(UTC) - timedelta(days=retention_days))
