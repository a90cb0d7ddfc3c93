"""The improvement journal: every attempt, kept in SQLite and mirrored to `results.tsv` in the workspace.

Verdicts: accepted, rejected, crash, rolled_back, and suggested (better, but measured on a smaller eval base
than the served model, so never applied by itself). `results.tsv` is listed in `.git/info/exclude` so it is
never committed (a proposal can neither edit nor hide it), autoresearch-style.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from config.settings import Settings
from config.state import connect

Verdict = Literal["accepted", "rejected", "crash", "rolled_back", "suggested"]
TSV_NAME = "results.tsv"
TSV_COLUMNS = (
    "ts", "round", "target", "files", "baseline", "candidate", "noise", "delta", "verdict", "reason", "commit",
)


class JournalEntry(BaseModel):
    """One line of the journal."""

    model_config = ConfigDict(extra="forbid")
    id: int | None = None
    ts: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    round: int = 0
    target: str
    files: list[str] = Field(default_factory=list)
    baseline: float | None = None
    candidate: float | None = None
    noise: float | None = None
    delta: float | None = None
    verdict: Verdict
    reason: str = ""
    commit: str = ""
    proposal_id: str = ""
    generator: str = ""


def init_schema(conn: sqlite3.Connection) -> None:
    """Create the journal table."""
    conn.execute(
        """CREATE TABLE IF NOT EXISTS improver_journal (
            id INTEGER PRIMARY KEY AUTOINCREMENT, ts TEXT NOT NULL, round INTEGER NOT NULL,
            target TEXT NOT NULL, files TEXT NOT NULL, baseline REAL, candidate REAL, noise REAL,
            delta REAL, verdict TEXT NOT NULL, reason TEXT NOT NULL, "commit" TEXT NOT NULL,
            proposal_id TEXT NOT NULL, generator TEXT NOT NULL)"""
    )


def record(settings: Settings, entry: JournalEntry) -> JournalEntry:
    """Append an entry to SQLite and to the workspace's results.tsv; returns it with its id."""
    conn = connect(settings)
    try:
        init_schema(conn)
        data = entry.model_dump(exclude={"id"})
        data["files"] = json.dumps(entry.files)
        cols = ", ".join(f'"{k}"' for k in data)
        cur = conn.execute(f"INSERT INTO improver_journal ({cols}) VALUES ({', '.join('?' * len(data))})",
                           tuple(data.values()))
        entry = entry.model_copy(update={"id": cur.lastrowid})
    finally:
        conn.close()
    _append_tsv(settings.workspace_dir, entry)
    return entry


def _fmt(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list):
        return ",".join(value)
    return str(value).replace("\t", " ").replace("\n", " ")


def _append_tsv(workspace: Path, entry: JournalEntry) -> None:
    if not (workspace / ".git").is_dir():
        return
    exclude = workspace / ".git" / "info" / "exclude"
    exclude.parent.mkdir(parents=True, exist_ok=True)
    if TSV_NAME not in (exclude.read_text() if exclude.is_file() else "").split():
        with exclude.open("a") as fh:
            fh.write(f"\n{TSV_NAME}\n")
    path = workspace / TSV_NAME
    new = not path.is_file()
    with path.open("a", encoding="utf-8") as fh:
        if new:
            fh.write("\t".join(TSV_COLUMNS) + "\n")
        fh.write("\t".join(_fmt(getattr(entry, col)) for col in TSV_COLUMNS) + "\n")


def entries(
    settings: Settings, *, target: str | None = None, since_days: float | None = None, limit: int | None = None
) -> list[JournalEntry]:
    """Journal entries, oldest first, optionally for one target / the last N days / the last `limit`."""
    conn = connect(settings)
    try:
        init_schema(conn)
        sql, args = "SELECT * FROM improver_journal WHERE 1=1", []
        if target:
            sql, args = sql + " AND target = ?", [*args, target]
        if since_days is not None:
            cutoff = (datetime.now(UTC) - timedelta(days=since_days)).isoformat(timespec="seconds")
            sql, args = sql + " AND ts >= ?", [*args, cutoff]
        rows = conn.execute(sql + " ORDER BY id DESC" + (f" LIMIT {int(limit)}" if limit else ""), args).fetchall()
    finally:
        conn.close()
    return [JournalEntry.model_validate({**dict(r), "files": json.loads(r["files"])}) for r in reversed(rows)]


def consecutive_rejections(settings: Settings, target: str) -> int:
    """How many of the target's latest attempts in a row were rejected (crashes don't count, accepts reset)."""
    count = 0
    for entry in reversed(entries(settings, target=target)):
        if entry.verdict in ("accepted", "rolled_back"):
            break
        count += entry.verdict == "rejected"
    return count


def last_round(settings: Settings) -> int:
    """The highest round number recorded so far (0 when empty)."""
    found = entries(settings, limit=1)
    return found[-1].round if found else 0


def summarize(items: list[JournalEntry]) -> str:
    """A short human answer to 'what did you improve?' built from journal entries."""
    if not items:
        return "I have not tried any improvements in that period."
    accepted = [e for e in items if e.verdict == "accepted"]
    counts = {v: sum(e.verdict == v for e in items) for v in ("accepted", "rejected", "crash", "rolled_back", "suggested")}
    head = (f"{len(items)} attempts: {counts['accepted']} accepted, {counts['rejected']} rejected, "
            f"{counts['crash']} crashed, {counts['rolled_back']} rolled back.")
    if counts["suggested"]:
        head += f" {counts['suggested']} suggested (measured on an eval base only, not applied)."
    lines = [head]
    for e in accepted[-5:]:
        delta = f" (delta {e.delta:+.3g}, noise {e.noise:.3g})" if e.delta is not None and e.noise is not None else ""
        lines.append(f"- {e.target}: {e.reason}{delta}, commit {e.commit[:8]}")
    return "\n".join(lines)
