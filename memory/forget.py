"""Forgetting: remove messages by user, channel or age from BOTH the SQLite log and the recall index.

The index is cleaned first: if we crash halfway, the log still lists what is left to forget and the
same request finishes the job. SQLite deletes use secure_delete and a WAL checkpoint, so the text
does not linger in free pages or the write-ahead log.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ConfigDict

from config.errors import UsageError
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


def _conditions(user: str | None, channel: str | None, before: datetime | None,
                ids: list[str] | None = None) -> tuple[str, list[object]]:
    clauses: list[str] = []
    params: list[object] = []
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
                   before: datetime | None = None) -> int:
    """How many logged messages a forget with these conditions would remove (to say so before doing it)."""
    where_sql, params = _conditions(user, channel, before)
    row = conn.execute(f"SELECT COUNT(*) FROM messages WHERE {where_sql or '1'}", params).fetchone()
    return int(row[0])


def forget(
    conn: sqlite3.Connection, index: RecallIndex, *,
    user: str | None = None, channel: str | None = None, before: datetime | None = None,
    ids: list[str] | None = None,
) -> ForgetResult:
    """Delete every message matching all given conditions (and feedback on them) from log and index."""
    if user is None and channel is None and before is None and ids is None:
        raise UsageError("Say what to forget: give a user, a channel or a date (--user, --channel, --before).")
    if ids is not None and not ids:
        return ForgetResult(messages=0, feedback=0, user=user, channel=channel, before=before)
    where_sql, params = _conditions(user, channel, before, ids)
    ids = [r[0] for r in conn.execute(f"SELECT id FROM messages WHERE {where_sql}", params)]
    # By id for what the log knows, by filter for chunks the log lost track of (e.g. after a crash).
    index.delete(message_ids=ids, where=build_where(channel=channel, author=user, until=before))
    feedback = _delete_rows(conn, where_sql, params)
    return ForgetResult(messages=len(ids), feedback=feedback, user=user, channel=channel, before=before)


def _delete_rows(conn: sqlite3.Connection, where_sql: str, params: list[object]) -> int:
    conn.execute("PRAGMA secure_delete = ON")
    with conn:
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
