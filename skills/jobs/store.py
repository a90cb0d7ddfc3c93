"""The job store: tables `jobs` and `job_events` in selftune.db, shared by every process that runs or follows jobs."""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from config.errors import NotFound, UsageError
from config.settings import Settings
from config.state import connect

JobState = Literal["queued", "running", "succeeded", "failed", "cancelled"]
TERMINAL: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})
ACTIVE: frozenset[str] = frozenset({"queued", "running"})

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    state TEXT NOT NULL,
    executor TEXT NOT NULL,
    spec TEXT NOT NULL,
    worker TEXT NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 1,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    error TEXT,
    adapter TEXT,
    pid INTEGER,
    runner_pid INTEGER,
    ray_job_id TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    waiting TEXT,
    progress TEXT NOT NULL DEFAULT '{}',
    requester TEXT,
    resources TEXT NOT NULL DEFAULT '{"trainer": 1}',
    runner_host TEXT,
    heartbeat_at REAL
);
CREATE TABLE IF NOT EXISTS job_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL,
    ordinal INTEGER NOT NULL,
    ts REAL NOT NULL,
    event TEXT NOT NULL,
    data TEXT NOT NULL,
    UNIQUE (job_id, attempt, ordinal)
);
CREATE INDEX IF NOT EXISTS job_events_job ON job_events(job_id, seq);
"""

# Ordinals at or above this mark events the supervisor writes itself (not the worker's stdout).
SUPERVISOR_ORDINAL = 1_000_000


# Columns added after the first release: (name, SQL type) added to older databases on open.
ADDED_COLUMNS = (("runner_host", "TEXT"), ("heartbeat_at", "REAL"))


def init_schema(conn: sqlite3.Connection) -> None:
    """Create the jobs tables if missing, and add columns newer versions introduced."""
    conn.executescript(SCHEMA)
    present = {row[1] for row in conn.execute("PRAGMA table_info(jobs)")}
    for name, kind in ADDED_COLUMNS:
        if name not in present:
            conn.execute(f"ALTER TABLE jobs ADD COLUMN {name} {kind}")


class Job(BaseModel):
    """One training job as stored: what runs, where, and how far it got."""

    model_config = ConfigDict(extra="forbid")

    id: str
    name: str
    state: JobState
    executor: Literal["local", "ray"]
    spec: dict[str, Any]
    worker: list[str] = Field(description="argv after the Python interpreter, without the spec path.")
    attempt: int = 1
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    error: str | None = None
    adapter: str | None = None
    pid: int | None = None
    runner_pid: int | None = None
    ray_job_id: str | None = None
    cancel_requested: bool = False
    waiting: str | None = None
    progress: dict[str, Any] = Field(default_factory=dict)
    requester: str | None = None
    resources: dict[str, float] = Field(default_factory=lambda: {"trainer": 1.0})
    runner_host: str | None = Field(None, description="Host name of the machine the supervisor runs on.")
    heartbeat_at: float | None = Field(
        None, description="When the supervisor last said it was alive (or when one was claimed to start).")

    @property
    def done(self) -> bool:
        """True once the job reached a terminal state."""
        return self.state in TERMINAL

    def summary(self) -> dict[str, Any]:
        """The JSON shape the CLI and skills print for a job."""
        doc = self.model_dump(exclude={"spec", "worker", "runner_pid", "cancel_requested", "runner_host"})
        doc["dataset"] = self.spec.get("dataset")
        doc["method"] = self.spec.get("method")
        return doc


class JobEvent(BaseModel):
    """One event a worker (or its supervisor) emitted."""

    seq: int
    job_id: str
    attempt: int
    ts: float
    event: str
    data: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        """Flat form: the worker's own JSON plus seq/attempt/ts."""
        return {**self.data, "event": self.event, "seq": self.seq, "attempt": self.attempt, "ts": self.ts}


def _row_to_job(row: sqlite3.Row) -> Job:
    doc = dict(row)
    for key in ("spec", "worker", "progress", "resources"):
        doc[key] = json.loads(doc[key])
    doc["cancel_requested"] = bool(doc["cancel_requested"])
    return Job.model_validate(doc)


class JobStore:
    """CRUD for jobs and their events; safe to use from several processes at once (SQLite WAL)."""

    def __init__(self, settings: Settings) -> None:
        self.conn = connect(settings)
        init_schema(self.conn)

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    def create(self, spec: dict[str, Any], *, executor: str, worker: list[str], requester: str | None = None,
               resources: dict[str, float] | None = None) -> Job:
        """Insert a queued job and return it."""
        job_id = uuid.uuid4().hex[:8]
        name = str(spec.get("name") or "job")
        self.conn.execute(
            "INSERT INTO jobs (id, name, state, executor, spec, worker, created_at, requester, resources, heartbeat_at) "
            "VALUES (?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?)",
            (job_id, name, executor, json.dumps(spec), json.dumps(worker), time.time(), requester,
             json.dumps(resources or {"trainer": 1}), time.time()),  # heartbeat_at: a supervisor is starting
        )
        return self.get(job_id)

    def get(self, job_id: str) -> Job:
        """A job by id, unique id prefix, 'latest', or a persona name (its newest job)."""
        if job_id == "latest":
            row = self.conn.execute("SELECT * FROM jobs ORDER BY created_at DESC, rowid DESC LIMIT 1").fetchone()
            if row is None:
                raise NotFound("There are no jobs yet; start one with `selftune train`.")
            return _row_to_job(row)
        rows = self.conn.execute("SELECT * FROM jobs WHERE id LIKE ? LIMIT 2", (job_id + "%",)).fetchall()
        if not rows and job_id:  # "how's the pirate job?": the persona's running job, else its newest
            rows = self.conn.execute(
                "SELECT * FROM jobs WHERE json_extract(spec, '$.persona') = ? "
                "ORDER BY state IN ('queued', 'running') DESC, created_at DESC, rowid DESC LIMIT 1", (job_id,)).fetchall()
        if not rows or not job_id:
            raise NotFound(f"There is no job '{job_id}' (by id or persona); `selftune jobs list` shows the jobs.")
        if len(rows) > 1:
            raise UsageError(f"Job id '{job_id}' is ambiguous; type more of it.")
        return _row_to_job(rows[0])

    def current(self, requester: str | None = None) -> Job:
        """"The job" as people mean it: a running (or queued) one, theirs first, else the last one they started,
        else the newest of anyone's."""
        jobs = self.list(limit=200)
        mine = [j for j in jobs if requester and j.requester == requester]
        for candidates in ([j for j in mine if not j.done], [j for j in jobs if not j.done], mine, jobs):
            if candidates:
                return candidates[0]
        raise NotFound("There are no jobs yet; start one with `selftune train`.")

    def list(self, *, limit: int = 20, states: frozenset[str] | None = None) -> list[Job]:
        """Newest jobs first, optionally only those in `states`."""
        rows = self.conn.execute("SELECT * FROM jobs ORDER BY created_at DESC, rowid DESC").fetchall()
        jobs = [_row_to_job(r) for r in rows]
        if states is not None:
            jobs = [j for j in jobs if j.state in states]
        return jobs[:limit]

    def update(self, job_id: str, **fields: Any) -> None:
        """Set columns of a job (dicts/lists are stored as JSON)."""
        allowed = set(Job.model_fields)
        if not fields or not set(fields) <= allowed:
            raise ValueError(f"unknown job fields: {set(fields) - allowed}")
        values = [json.dumps(v) if isinstance(v, dict | list) else v for v in fields.values()]
        assignments = ", ".join(f"{key} = ?" for key in fields)
        self.conn.execute(f"UPDATE jobs SET {assignments} WHERE id = ?", (*values, job_id))

    def transition(self, job_id: str, state: JobState, *, only_from: frozenset[str] = ACTIVE, **fields: Any) -> bool:
        """Move a job to `state` if it is currently in `only_from`; True when it moved."""
        now = time.time()
        if state == "running":
            fields.setdefault("started_at", now)
        if state in TERMINAL:
            fields.setdefault("finished_at", now)
            fields.setdefault("waiting", None)
        fields["state"] = state
        values = [json.dumps(v) if isinstance(v, dict | list) else v for v in fields.values()]
        assignments = ", ".join(f"{key} = ?" for key in fields)
        marks = ", ".join("?" for _ in only_from)
        cur = self.conn.execute(
            f"UPDATE jobs SET {assignments} WHERE id = ? AND state IN ({marks})", (*values, job_id, *sorted(only_from))
        )
        return cur.rowcount == 1

    def claim(self, job: Job) -> bool:
        """Take over supervision of a job whose supervisor is gone; True for the one caller that wins.

        Compare-and-set on (runner_pid, heartbeat_at) as this caller read them, so two readers that both
        noticed the dead supervisor never start two new ones.
        """
        cur = self.conn.execute(
            "UPDATE jobs SET runner_pid = NULL, runner_host = NULL, heartbeat_at = ? "
            "WHERE id = ? AND runner_pid IS ? AND heartbeat_at IS ? AND state IN ('queued', 'running')",
            (time.time(), job.id, job.runner_pid, job.heartbeat_at),
        )
        return cur.rowcount == 1

    def append_event(self, job_id: str, attempt: int, ordinal: int, data: dict[str, Any]) -> bool:
        """Store one event (ignored when this ordinal of this attempt is already stored); True if new."""
        event = str(data.get("event", "message"))
        body = {k: v for k, v in data.items() if k != "event"}
        cur = self.conn.execute(
            "INSERT OR IGNORE INTO job_events (job_id, attempt, ordinal, ts, event, data) VALUES (?, ?, ?, ?, ?, ?)",
            (job_id, attempt, ordinal, time.time(), event, json.dumps(body, default=str)),
        )
        if cur.rowcount and event in ("progress", "eval", "start"):
            self._merge_progress(job_id, event, body)
        return bool(cur.rowcount)

    def note(self, job_id: str, message: str, **extra: Any) -> None:
        """Append a supervisor `message` event (not from the worker)."""
        job = self.get(job_id)
        count = self.conn.execute(
            "SELECT COUNT(*) FROM job_events WHERE job_id = ? AND attempt = ? AND ordinal >= ?",
            (job_id, job.attempt, SUPERVISOR_ORDINAL),
        ).fetchone()[0]
        self.append_event(job_id, job.attempt, SUPERVISOR_ORDINAL + count, {"event": "message", "message": message, **extra})

    def _merge_progress(self, job_id: str, event: str, body: dict[str, Any]) -> None:
        row = self.conn.execute("SELECT progress FROM jobs WHERE id = ?", (job_id,)).fetchone()
        progress = json.loads(row[0]) if row else {}
        keep = ("step", "max_steps", "loss", "lr", "tokens_per_s", "eta_s", "epoch", "eval_loss", "resumed_from")
        progress.update({k: v for k, v in body.items() if k in keep})
        self.conn.execute("UPDATE jobs SET progress = ? WHERE id = ?", (json.dumps(progress), job_id))

    def events(self, job_id: str, after: int = 0, limit: int = 10_000) -> list[JobEvent]:
        """Events of a job with seq > after, oldest first."""
        rows = self.conn.execute(
            "SELECT * FROM job_events WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?", (job_id, after, limit)
        ).fetchall()
        return [JobEvent(**{**dict(r), "data": json.loads(r["data"])}) for r in rows]

    def max_ordinal(self, job_id: str, attempt: int) -> int:
        """The highest worker-event ordinal stored for this attempt (-1 if none)."""
        row = self.conn.execute(
            "SELECT MAX(ordinal) FROM job_events WHERE job_id = ? AND attempt = ? AND ordinal < ?",
            (job_id, attempt, SUPERVISOR_ORDINAL),
        ).fetchone()
        return -1 if row[0] is None else int(row[0])
