"""Process helpers: job folders, liveness checks that survive pid reuse, and starting the detached supervisor."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from config.settings import Settings


def job_dir(settings: Settings, job_id: str) -> Path:
    """home/jobs/<id>/: spec.json, per-attempt event and stderr logs, the supervisor's log."""
    path = settings.home / "jobs" / job_id
    path.mkdir(parents=True, exist_ok=True)
    return path


def attempt_files(settings: Settings, job_id: str, attempt: int) -> tuple[Path, Path]:
    """(events file = the worker's stdout, stderr log) of one attempt."""
    folder = job_dir(settings, job_id)
    return folder / f"attempt-{attempt}.events.jsonl", folder / f"attempt-{attempt}.stderr.log"


def alive(pid: int | None, needle: str) -> bool:
    """True when `pid` runs and its command line mentions `needle` (so a reused pid or a zombie is not alive)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not cmdline.parent.exists():  # no procfs (macOS): trust kill(0)
        return True
    try:
        return needle.encode() in cmdline.read_bytes()
    except OSError:
        return False


def send(pid: int | None, sig: signal.Signals) -> None:
    """Signal a process, ignoring one that is already gone."""
    if pid:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def spawn_runner(settings: Settings, job_id: str, *, reattach: bool = False) -> int:
    """Start the detached supervisor of a job (its own session, so it outlives the bot); return its pid."""
    argv = [sys.executable, "-m", "skills.jobs.runner", job_id, "--home", str(settings.home)]
    if settings.config_file is not None:
        argv += ["--config", str(settings.config_file)]
    if reattach:
        argv.append("--reattach")
    log = (job_dir(settings, job_id) / "runner.log").open("ab")
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "SELFTUNE_HOME": str(settings.home)}
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, start_new_session=True)
    log.close()
    # Reap it when it ends so no zombie lingers in a long-running bot.
    threading.Thread(target=proc.wait, name=f"reap-runner-{job_id}", daemon=True).start()
    return proc.pid
