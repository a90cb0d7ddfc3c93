"""The worker's event stream: one JSON object per line on the real stdout (docs/contracts.md).

Libraries print to stdout too (TRL's log dicts, tqdm.write); `claim_stdout` moves fd 1 to stderr
so that only events reach whoever parses the stream.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from config.errors import SelftuneError

EVENT_KINDS = ("start", "progress", "eval", "checkpoint", "message", "done", "error")


def claim_stdout() -> TextIO:
    """Return a private stream on the original stdout and point fd 1 and sys.stdout at stderr."""
    sys.stdout.flush()
    private = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return private


def _clean(value: Any) -> Any:
    """JSON has no NaN/inf: send null instead, and round floats to keep lines short."""
    if isinstance(value, float):
        return None if not math.isfinite(value) else round(value, 6)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


class EventEmitter:
    """Writes events as JSON lines; every event carries its kind and a wall-clock time."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.history: list[dict[str, Any]] = []  # written beside the adapter as events.jsonl

    def emit(self, event: str, **fields: Any) -> dict[str, Any]:
        """Write one event line and flush it at once (the reader follows it live)."""
        if event not in EVENT_KINDS:
            raise ValueError(f"unknown event kind {event!r}")
        record = {"event": event, "time": round(time.time(), 3), **_clean(fields)}
        self.history.append(record)
        self.stream.write(json.dumps(record) + "\n")
        self.stream.flush()
        return record

    def message(self, text: str) -> None:
        """A human-readable note (backend chosen, resuming, ...)."""
        self.emit("message", message=text)


def parse_events(text: str) -> list[dict[str, Any]]:
    """Parse a worker's stdout into events, skipping anything that is not an event line."""
    events = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and record.get("event") in EVENT_KINDS:
            events.append(record)
    return events


def run_spec_job(argv: list[str], work: Callable[[dict[str, Any], EventEmitter], dict[str, Any]],
                 failed: Callable[[Exception], str]) -> int:
    """A worker entry point: read the spec file argv[0], run `work`, emit `done` (exit 0) or an `error` event with
    one sentence (exit 1): a SelftuneError as it is, our own bug as `failed(exc)` with the traceback on stderr."""
    emitter = EventEmitter(claim_stdout())
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    try:
        emitter.emit("done", **work(json.loads(Path(argv[0]).read_text(encoding="utf-8")), emitter))
    except SelftuneError as exc:
        emitter.emit("error", message=str(exc))
        return 1
    except Exception as exc:  # our own bug: one line for the user, the traceback on stderr (the job log)
        logging.getLogger(__name__).exception("worker job failed")
        emitter.emit("error", message=failed(exc))
        return 1
    return 0
