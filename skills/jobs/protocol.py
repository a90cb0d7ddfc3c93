"""The worker's stdout protocol (one JSON object per line with "event") and how a finished attempt is judged."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

from pydantic import BaseModel


def parse_line(line: str) -> dict[str, Any] | None:
    """The event on this stdout line, or None when the line is not a worker event."""
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        data = json.loads(line)
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) and isinstance(data.get("event"), str) else None


def adapter_complete(path: str | None) -> bool:
    """True when an adapter folder exists with its manifest (the worker renames it into place when done)."""
    return bool(path) and (Path(path) / "manifest.json").is_file()


class Outcome(BaseModel):
    """How an attempt ended: the terminal state, the user-facing error and the adapter folder."""

    state: str
    error: str | None = None
    adapter: str | None = None


def judge(
    last: dict[str, dict[str, Any]], returncode: int | None, *, cancel_requested: bool, where: str = "this machine"
) -> Outcome:
    """Decide the job's outcome from its last events per kind and the worker's exit status."""
    done = last.get("done")
    if done is not None and adapter_complete(done.get("adapter_dir")):
        return Outcome(state="succeeded", adapter=str(done["adapter_dir"]))
    if cancel_requested:
        return Outcome(state="cancelled", error="Cancelled on request.")
    if done is not None:
        return Outcome(state="failed", error=f"The worker reported done but its adapter folder {done.get('adapter_dir')} "
                       "is missing or incomplete; retry the job.")
    if "error" in last:
        return Outcome(state="failed", error=f"Training failed: {last['error'].get('message', 'unknown error')}.")
    return Outcome(state="failed", error=describe_death(returncode, where))


def describe_death(returncode: int | None, where: str) -> str:
    """One sentence for a worker that ended without a done or error event."""
    if returncode is not None and returncode < 0:
        name = signal.Signals(-returncode).name if -returncode in signal.valid_signals() else str(-returncode)
        hint = " (often the out-of-memory killer)" if name == "SIGKILL" else ""
        return f"The training worker on {where} was killed by {name}{hint}; `selftune jobs retry` resumes from the last checkpoint."
    if returncode is None:
        return (f"The training worker on {where} disappeared without finishing (killed, out of memory or the machine "
                "restarted); retry the job to resume from its last checkpoint.")
    return f"The training worker on {where} exited with code {returncode} without finishing; see `selftune jobs logs`."


class EventSink:
    """Feeds a worker's output lines into the store, numbering events so a re-attached reader never duplicates."""

    def __init__(self, store: Any, job_id: str, attempt: int) -> None:
        self.store, self.job_id, self.attempt = store, job_id, attempt
        self.ordinal = 0
        self.last: dict[str, dict[str, Any]] = {}

    def feed(self, line: str) -> dict[str, Any] | None:
        """Store the event on this line (if any) and remember it as the latest of its kind."""
        event = parse_line(line)
        if event is None:
            return None
        self.store.append_event(self.job_id, self.attempt, self.ordinal, event)
        self.ordinal += 1
        self.last[event["event"]] = event
        return event


class LineTail:
    """Reads complete lines appended to a file since the last call (the worker may still be writing)."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset, self.partial = path, 0, b""

    def read(self) -> list[str]:
        """New complete lines."""
        try:
            with self.path.open("rb") as fh:
                fh.seek(self.offset)
                chunk = fh.read()
        except FileNotFoundError:
            return []
        self.offset += len(chunk)
        *lines, self.partial = (self.partial + chunk).split(b"\n")
        return [line.decode("utf-8", "replace") for line in lines]
