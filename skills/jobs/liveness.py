"""Is a job's supervisor alive? The supervisor records its pid, host and a heartbeat; any reader can check them.

A claimed-but-starting supervisor has no pid yet, only a fresh heartbeat; one on this host is judged by its pid
(immediately, surviving pid reuse); one on another host (a shared state dir) by the age of its heartbeat.
"""

from __future__ import annotations

import logging
import socket
import threading
import time

from config.settings import Settings
from skills.jobs.procs import alive
from skills.jobs.store import Job, JobStore

log = logging.getLogger(__name__)
STARTING_GRACE_S = 30.0  # from claiming a supervisor to it recording its pid (a Python start takes ~1 s)


def supervisor_alive(settings: Settings, job: Job) -> bool:
    """True while the job's supervisor runs (or is still starting)."""
    if job.runner_pid is None:
        return job.heartbeat_at is not None and time.time() - job.heartbeat_at < STARTING_GRACE_S
    if job.runner_host and job.runner_host != socket.gethostname():
        return job.heartbeat_at is not None and time.time() - job.heartbeat_at < settings.executor.heartbeat_stale_s
    return alive(job.runner_pid, job.id)


def worker_may_live(job: Job) -> bool:
    """True when the job's worker may still run without its supervisor (so re-attaching can follow it)."""
    if job.state != "running":
        return False
    if job.executor == "ray":
        return job.ray_job_id is not None  # only Ray knows; the re-attached supervisor asks it
    return alive(job.pid, job.id)


class Heartbeat:
    """Records the supervisor's pid and host, then stamps heartbeat_at every executor.heartbeat_s until stopped."""

    def __init__(self, settings: Settings, job_id: str, pid: int) -> None:
        self.settings, self.job_id, self.pid = settings, job_id, pid
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{job_id}", daemon=True)

    def start(self) -> Heartbeat:
        """Record this supervisor in the job row and start beating."""
        store = JobStore(self.settings)
        try:
            store.update(self.job_id, runner_pid=self.pid, runner_host=socket.gethostname(), heartbeat_at=time.time())
        finally:
            store.close()
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop beating (the job's final state is written by the supervisor itself)."""
        self._stop.set()
        self._thread.join(timeout=self.settings.executor.heartbeat_s + 5)

    def _run(self) -> None:
        store = JobStore(self.settings)  # its own connection: sqlite3 connections stay in their thread
        try:
            while not self._stop.wait(self.settings.executor.heartbeat_s):
                store.update(self.job_id, heartbeat_at=time.time())
        except Exception:  # a missed beat must never take the supervisor down; readers fall back to the pid
            log.exception("job %s: heartbeat stopped", self.job_id)
        finally:
            store.close()
