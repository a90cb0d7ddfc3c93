"""Harvest: consented persona answers → dataset rows with provenance, incrementally.

Only a persona's answer to a chat turn (kind `chat`) becomes a row: its target is that answer and its
context the chat just before it in the same channel. Everything else is left out and counted by reason
(`skipped`): command/tool replies, follow-up questions, errors, help and progress messages, answers
with net 👎 feedback, answers of another persona, rows logged before kinds were recorded (`unknown`:
nobody knows what they were, so they are never learned), rows an earlier build already produced, and
answers written without consent. A left-out answer also leaves the context, with the message it
answered, so a row never teaches a command exchange as conversation. A chat answer is refused too when it
would teach a bad habit: it loops (`loop`, or `degenerate` when the chat guard already cut it), copies an
earlier command reply of the channel (`copied_command`), copies an earlier answer nearly verbatim
(`copied_reply`), repeats a row kept in this build (`near_duplicate`) or is only a tool call (`tool_call`;
tool-call syntax is stripped from every assistant turn of a row). Text is scrubbed; every row keeps
the message ids behind it; a cursor in SQLite remembers how far the last build got. Writing the rows as
a dataset is the datasets area's job (`skills.dataset.harvest`).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from config.errors import PermissionDenied
from config.repetition import near_copy, repetition_cut, strip_tool_syntax
from config.scrub import scrub
from memory.consent import consent_history
from memory.log import LoggedMessage, get_cursor, iter_messages, net_ratings, set_cursor, utc_iso

SESSION_GAP = timedelta(minutes=30)  # a longer silence starts a new conversation
CONTEXT_MESSAGES = 8
# Why an answer did not become a row; every reason is reported, zero or not, so the counts read the same.
SKIP_REASONS = ("command", "question", "error", "help", "progress", "disliked", "other_persona", "without_consent",
                "duplicate", "unknown", "no_prompt", "degenerate", "loop", "copied_command", "copied_reply",
                "near_duplicate", "tool_call")
KEPT_IN_CONTEXT = ("duplicate", "no_prompt")  # fine answers that are not new rows stay context for the next ones
EARLIER_REPLIES = 200  # how many earlier assistant messages an answer is compared with (copies are recent)
SCHEMA = """
CREATE TABLE IF NOT EXISTS harvested_rows (
    hash TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    dataset TEXT NOT NULL,
    built_at TEXT NOT NULL
);
"""


class HarvestBatch(BaseModel):
    """New rows of one channel since the cursor, with provenance; written by the datasets area, then marked."""

    model_config = ConfigDict(extra="forbid")

    channel: str
    cursor_name: str
    rows: list[dict[str, Any]]
    duplicates: int
    without_consent: int
    skipped: dict[str, int]
    since_seq: int
    until_seq: int


def init_schema(conn: sqlite3.Connection) -> None:
    """Create the table of rows already harvested (for cross-build deduplication)."""
    conn.executescript(SCHEMA)


def consent_windows(conn: sqlite3.Connection, channel: str) -> list[tuple[datetime, datetime | None]]:
    """Time intervals during which the channel had consent."""
    windows: list[tuple[datetime, datetime | None]] = []
    start: datetime | None = None
    for change in consent_history(conn, channel):
        if change.enabled and start is None:
            start = change.changed_at
        elif not change.enabled and start is not None:
            windows.append((start, change.changed_at))
            start = None
    return windows + ([(start, None)] if start is not None else [])


def allowed(msg: LoggedMessage, windows: list[tuple[datetime, datetime | None]]) -> bool:
    """True when the message was written inside one of the consent windows."""
    created = msg.created_at if msg.created_at.tzinfo else msg.created_at.replace(tzinfo=UTC)
    return any(lo <= created and (hi is None or created < hi) for lo, hi in windows)


def _context(history: list[LoggedMessage], target: LoggedMessage, gap: timedelta = SESSION_GAP) -> list[LoggedMessage]:
    """The messages of the same conversation just before the target, oldest first: a turn that began more than
    `gap` after the reply before it started a new conversation (the time an answer took to write never does)."""
    picked: list[LoggedMessage] = []
    later = target
    for msg in reversed(history[-CONTEXT_MESSAGES:]):
        if later.role == "user" and later.created_at - msg.created_at > gap:
            break
        picked.append(msg)
        later = msg
    while picked and picked[-1].role != "user":  # a conversation row starts with a user turn
        picked.pop()
    return picked[::-1]


def _turns(context: list[LoggedMessage], target: LoggedMessage,
           rewrite: Callable[[str], str] | None) -> list[dict[str, str]]:
    """Alternating chat turns (consecutive same-role messages merged), starting with a user turn."""
    turns: list[dict[str, str]] = []
    for msg in [*context, target]:
        text = scrub(strip_tool_syntax(msg.text) if msg.role == "assistant" else msg.text)
        if msg is target and rewrite is not None:
            text = rewrite(text)
        if turns and turns[-1]["role"] == msg.role:
            turns[-1]["content"] += "\n" + text
        else:
            turns.append({"role": msg.role, "content": text})
    while turns and turns[0]["role"] != "user":
        turns.pop(0)
    return turns


def _row_hash(messages: list[dict[str, str]]) -> str:
    """Rows equal up to case and spacing hash the same."""
    canonical = [[m["role"], " ".join(m["content"].lower().split())] for m in messages]
    return hashlib.sha256(json.dumps(canonical).encode()).hexdigest()


def collect_rows(
    conn: sqlite3.Connection, channel: str, *, system_prompt: str | None = None,
    rewrite: Callable[[str], str] | None = None, incremental: bool = True, cursor_name: str | None = None,
    persona: str | None = None, session_gap: timedelta = SESSION_GAP,
) -> HarvestBatch:
    """The channel's consented conversations since the last build, one row per persona answer (of `persona`);
    a silence longer than `session_gap` starts a new conversation (the assistant forgot the earlier one)."""
    windows = consent_windows(conn, channel)
    if not windows:
        raise PermissionDenied(
            f"Channel {channel} never opted in to collection, so nothing is harvested; an admin can turn it "
            f"on with `@selftune collect on` there or `selftune memory collect {channel} --on`."
        )
    cursor_name = cursor_name or f"harvest:{channel}"
    since = get_cursor(conn, cursor_name) if incremental else 0
    picker = _Picker(net_ratings(conn, channel), persona)
    rows, stats = _build_rows(conn, channel, since, windows, picker, system_prompt, rewrite, session_gap)
    return HarvestBatch(channel=channel, cursor_name=cursor_name, rows=rows, since_seq=since, **stats)


def mark_harvested(conn: sqlite3.Connection, batch: HarvestBatch, dataset: Path | None) -> None:
    """Remember the batch's rows (so later builds skip them) and move the cursor past it."""
    if batch.rows and dataset is not None:
        _remember(conn, batch.channel, dataset, batch.rows)
    set_cursor(conn, batch.cursor_name, batch.until_seq)


class _Picker:
    """Decides which assistant messages are learned from, counting the reason for each one left out."""

    def __init__(self, ratings: dict[str, int], persona: str | None) -> None:
        self.ratings, self.persona = ratings, persona
        self.skipped: Counter[str] = Counter({reason: 0 for reason in SKIP_REASONS})
        self.commands: list[str] = []  # earlier command replies of the channel (switches, confirmations, errors…)
        self.answers: list[str] = []  # earlier chat answers of the channel
        self.kept: list[str] = []  # answers of the rows kept in this build

    def seen(self, msg: LoggedMessage) -> None:
        """Remember an assistant message, so a later answer that copies it is caught."""
        bucket = self.answers if msg.kind in ("chat", "degenerate") else self.commands
        bucket.append(msg.text)
        del bucket[:-EARLIER_REPLIES]

    def habit(self, text: str) -> str | None:
        """Why a chat answer would teach a bad habit (loop, copy, near duplicate, bare tool call), else None."""
        answer = strip_tool_syntax(text)
        if not answer:
            return "tool_call"
        if repetition_cut(answer) is not None:
            return "loop"
        if any(near_copy(answer, earlier) for earlier in self.commands):
            return "copied_command"
        if any(near_copy(answer, kept) for kept in self.kept):
            return "near_duplicate"
        if any(near_copy(answer, earlier) for earlier in self.answers):
            return "copied_reply"
        return None

    def reason(self, msg: LoggedMessage) -> str | None:
        """Why this assistant message is not a training target, or None when it is one."""
        if msg.kind != "chat":
            return msg.kind or "unknown"
        if self.ratings.get(msg.id, 0) < 0:
            return "disliked"
        if self.persona and msg.persona and msg.persona != self.persona:
            return "other_persona"
        return None


def _build_rows(conn: sqlite3.Connection, channel: str, since: int, windows: list, picker: _Picker,
                system_prompt: str | None, rewrite: Callable[[str], str] | None,
                gap: timedelta = SESSION_GAP) -> tuple[list[dict], dict]:
    """One row per new consented persona answer, skipping rows any earlier build already produced."""
    history: list[LoggedMessage] = []
    rows: list[dict[str, Any]] = []
    seen = {r[0] for r in conn.execute("SELECT hash FROM harvested_rows WHERE channel = ?", (channel,))}
    stats = {"duplicates": 0, "without_consent": 0, "until_seq": since}
    for msg in iter_messages(conn, channel=channel, after_seq=_context_start(conn, channel, since)):
        new = (msg.seq or 0) > since
        stats["until_seq"] = max(stats["until_seq"], msg.seq or 0)
        if not allowed(msg, windows):
            stats["without_consent"] += int(new)
            picker.skipped["without_consent"] += int(new and msg.role == "assistant")
            history = []  # never let unconsented text leak in as context
            continue
        reason = picker.reason(msg) if msg.role == "assistant" else None
        if reason is None and msg.role == "assistant" and new:
            reason = _take(_row(history, msg, rewrite, system_prompt, gap), msg, rows, seen, picker, stats)
        if msg.role == "assistant":
            picker.seen(msg)
        if reason is not None:
            picker.skipped[reason] += int(new)
        if reason not in (None, *KEPT_IN_CONTEXT):  # a left-out answer leaves the context with its question
            history = _without_exchange(history, msg)
            continue
        history = [*history[-CONTEXT_MESSAGES:], msg]
    return rows, {**stats, "skipped": dict(picker.skipped)}


def _take(row: dict[str, Any] | None, msg: LoggedMessage, rows: list[dict], seen: set[str], picker: _Picker,
          stats: dict) -> str | None:
    """Keep a new row, or say why not: no user turn before it, built before, or a bad habit in its answer."""
    if row is None:
        return "no_prompt"
    if row["hash"] in seen:
        stats["duplicates"] += 1
        return "duplicate"
    habit = picker.habit(msg.text)
    if habit is None:
        seen.add(row["hash"])
        rows.append(row)
        picker.kept.append(row["messages"][-1]["content"])
    return habit


def _without_exchange(history: list[LoggedMessage], reply: LoggedMessage) -> list[LoggedMessage]:
    """The context minus the message a left-out reply answered (the trailing user turn when it names none)."""
    if reply.reply_to is not None:
        return [m for m in history if m.id != reply.reply_to]
    kept = list(history)
    while kept and kept[-1].role == "user":
        kept.pop()
    return kept


def _context_start(conn: sqlite3.Connection, channel: str, since: int) -> int:
    """The seq to read from so the first new answer still sees the messages just before it."""
    row = conn.execute("SELECT seq FROM messages WHERE channel = ? AND seq <= ? ORDER BY seq DESC LIMIT 1 OFFSET ?",
                       (channel, since, CONTEXT_MESSAGES)).fetchone()
    return row[0] if row else 0


def _row(history: list[LoggedMessage], target: LoggedMessage, rewrite: Callable[[str], str] | None,
         system_prompt: str | None, gap: timedelta = SESSION_GAP) -> dict[str, Any] | None:
    """The dataset row whose target is this assistant message, or None without a user turn before it."""
    context = _context(history, target, gap)
    turns = _turns(context, target, rewrite)
    if len(turns) < 2:
        return None
    system = [{"role": "system", "content": system_prompt}] if system_prompt else []
    return {"messages": system + turns, "hash": _row_hash(turns), "message_ids": [m.id for m in context] + [target.id],
            "adapter": target.adapter}


def _remember(conn: sqlite3.Connection, channel: str, path: Path, rows: list[dict]) -> None:
    with conn:
        conn.executemany(
            "INSERT OR IGNORE INTO harvested_rows (hash, channel, dataset, built_at) VALUES (?, ?, ?, ?)",
            [(r["hash"], channel, str(path), utc_iso(datetime.now(UTC))) for r in rows],
        )
