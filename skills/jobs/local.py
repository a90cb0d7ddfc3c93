"""The local executor: the training worker as a subprocess of a detached supervisor, one heavy job at a time.

The worker's stdout goes to a file, so a supervisor started after a crash can pick the events up where they
were; the worker inherits the queue lock, so no second job starts while an orphaned worker still trains.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import subprocess
import sys
import time

from config.settings import Settings
from skills.jobs.procs import alive, attempt_files, job_dir, send
from skills.jobs.protocol import EventSink, LineTail, Outcome, judge
from skills.jobs.store import Job, JobStore

log = logging.getLogger(__name__)
POLL_S = 0.1


class LocalExecutor:
    """Runs `python -m skills.train.worker SPEC.json` on this machine (inside the job's supervisor process)."""

    name = "local"

    def __init__(self, settings: Settings, store: JobStore) -> None:
        self.settings, self.store = settings, store

    def run(self, job: Job, *, reattach: bool = False) -> Outcome:
        """Run (or re-attach to) the job's current attempt until it ends; return its outcome."""
        if reattach:  # the worker may still run, or have ended while nobody watched: read what it left
            return self._follow(job, proc=None)
        lock_fd = self._wait_for_turn(job)
        if lock_fd is not None and self.store.get(job.id).cancel_requested:
            os.close(lock_fd)
            lock_fd = None
        if lock_fd is None:
            return Outcome(state="cancelled", error="Cancelled before it started.")
        try:
            proc = self._launch(job, lock_fd)
        finally:
            os.close(lock_fd)  # the worker holds its own copy until it exits
        return self._follow(self.store.get(job.id), proc=proc)

    def collect(self, job: Job) -> Outcome:
        """The outcome of an attempt whose worker no longer runs, from the events it left in its file."""
        return self._follow(job, proc=None)

    def _wait_for_turn(self, job: Job) -> int | None:
        """Block until this machine's training slot is free; None when the job was cancelled meanwhile."""
        lock_path = self.settings.home / "jobs" / "local.lock"
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        noted = False
        while True:
            if self._first_in_line(job):  # first come, first served
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return fd
                except BlockingIOError:
                    pass
            current = self.store.get(job.id)
            if current.cancel_requested or current.done:
                os.close(fd)
                return None
            if not noted:
                reason = "Waiting for the running training job to finish (one job at a time on this machine)."
                self.store.update(job.id, waiting=reason)
                self.store.note(job.id, reason)
                noted = True
            time.sleep(POLL_S * 2)

    def _first_in_line(self, job: Job) -> bool:
        """No older local job is still queued (the flock alone would let a newer job win the race)."""
        queued = self.store.list(limit=10_000, states=frozenset({"queued"}))
        return not any(j.executor == "local" and (j.created_at, j.id) < (job.created_at, job.id) for j in queued)

    def _launch(self, job: Job, lock_fd: int) -> subprocess.Popen[bytes]:
        spec_path = job_dir(self.settings, job.id) / "spec.json"
        events_path, stderr_path = attempt_files(self.settings, job.id, job.attempt)
        argv = [sys.executable, *job.worker, str(spec_path)]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with events_path.open("wb") as out, stderr_path.open("ab") as err:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env,
                                    cwd=spec_path.parent, pass_fds=(lock_fd,))
        self.store.transition(job.id, "running", only_from=frozenset({"queued"}), pid=proc.pid, waiting=None)
        log.info("job %s attempt %s: worker pid %s", job.id, job.attempt, proc.pid)
        return proc

    def _follow(self, job: Job, proc: subprocess.Popen[bytes] | None) -> Outcome:
        """Pump events until the worker exits, escalating a cancel request from SIGTERM to SIGKILL."""
        events_path, _ = attempt_files(self.settings, job.id, job.attempt)
        tail, sink = LineTail(events_path), EventSink(self.store, job.id, job.attempt)
        term_sent_at: float | None = None
        while True:
            for line in tail.read():
                sink.feed(line)
            returncode = proc.poll() if proc is not None else None
            finished = returncode is not None if proc is not None else not alive(job.pid, job.id)
            if finished:
                for line in tail.read() + [tail.partial.decode("utf-8", "replace")]:
                    sink.feed(line)
                break
            term_sent_at = self._escalate(job, term_sent_at)
            time.sleep(POLL_S)
        cancel_requested = self.store.get(job.id).cancel_requested
        return judge(sink.last, returncode, cancel_requested=cancel_requested)

    def _escalate(self, job: Job, term_sent_at: float | None) -> float | None:
        """Send SIGTERM once a cancel is requested, SIGKILL after the grace period."""
        if term_sent_at is None:
            if self.store.get(job.id).cancel_requested:
                send(job.pid, signal.SIGTERM)
                return time.monotonic()
            return None
        if time.monotonic() - term_sent_at > self.settings.executor.cancel_grace_s:
            log.warning("job %s: worker ignored SIGTERM for %ss, killing it", job.id, self.settings.executor.cancel_grace_s)
            send(job.pid, signal.SIGKILL)
        return term_sent_at


def kill_orphan(settings: Settings, job: Job) -> None:
    """Stop a local worker whose supervisor is gone: SIGTERM, then SIGKILL after the grace period."""
    send(job.pid, signal.SIGTERM)
    deadline = time.monotonic() + settings.executor.cancel_grace_s
    while alive(job.pid, job.id) and time.monotonic() < deadline:
        time.sleep(POLL_S)
    if alive(job.pid, job.id):
        send(job.pid, signal.SIGKILL)

