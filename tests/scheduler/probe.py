"""A job function the scheduler tests persist by reference: appends a line per run, optionally slowly."""

import time
from pathlib import Path


def record(path: str, sleep_s: float = 0.0) -> dict:
    """Append one line to `path` (one per run) and return a small outcome."""
    with Path(path).open("a") as f:
        f.write(f"{time.time()}\n")
    time.sleep(sleep_s)
    return {"status": "ok"}
