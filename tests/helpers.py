"""Helpers several test areas share: the terminal assistant in a real process, stopping leftover jobs, and small
loopback HTTP servers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer
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


def stop_unfinished_jobs(manager: Any, timeout: float = 10) -> None:
    """Cancel every job a test left running (their supervisors are real processes) and close the manager."""
    for job in manager.list(limit=100):
        if not job.done:
            try:
                manager.cancel(job.id)
            except Exception:  # it may have finished in between
                pass
            manager.wait(job.id, timeout=timeout)
    manager.close()


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (nothing listens there once this returns)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """`handler` answering on 127.0.0.1 (a free port) in a thread; yields its http:// address."""
    server = HTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def notices_until(settings: Any, status: str, timeout_s: float) -> list[dict]:
    """Run the bot's scheduler (as `selftune run` does) until a notice with `status` arrives; every notice so far.
    Fails the test when none arrives within `timeout_s`."""
    from skills.scheduler import SchedulerService

    notices: list[dict] = []
    arrived = threading.Event()

    def notify(outcome: dict) -> None:
        notices.append(outcome)
        if outcome.get("status") == status:
            arrived.set()

    service = SchedulerService(settings, notify=notify, background=True)
    service.start()
    try:
        assert arrived.wait(timeout_s), f"no '{status}' notice within {timeout_s} s; notices: {notices}"
    finally:
        service.shutdown()
    return notices
