"""Helpers several test areas share: the terminal assistant in a real process, and stopping leftover jobs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def run_console(home: Path, lines: str, **env: str) -> str:
    """`selftune run --console` on the tiny model in its own process, fed `lines`; returns what it printed."""
    environ = {**os.environ, "SELFTUNE_HOME": str(home), "SELFTUNE_BASE_MODEL": "tiny", "COLUMNS": "200",
               "PYTHONPATH": str(REPO), **env}
    proc = subprocess.run([sys.executable, "-m", "agent.cli.main", "run", "--console"], input=lines,
                          capture_output=True, text=True, env=environ, timeout=120, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def stop_unfinished_jobs(manager: Any) -> None:
    """Cancel every job a test left running (their supervisors are real processes) and close the manager."""
    for job in manager.list(limit=100):
        if not job.done:
            try:
                manager.cancel(job.id)
            except Exception:  # it may have finished in between
                pass
            manager.wait(job.id, timeout=10)
    manager.close()
