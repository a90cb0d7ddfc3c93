"""JobManager: submit, observe, cancel, retry and re-attach training jobs (docs/contracts.md, "Training worker and jobs").

Jobs run under a detached supervisor (skills.jobs.runner) that writes to the job store; everything here reads
and writes the store, so the bot, the CLI and a restarted bot all see the same jobs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from pydantic import BaseModel

from config.errors import ConfigError, UsageError
from config.settings import Settings
from skills.jobs.liveness import supervisor_alive, worker_may_live
from skills.jobs.procs import job_dir, spawn_runner
from skills.jobs.protocol import Outcome, describe_death
from skills.jobs.store import ACTIVE, Job, JobStore

log = logging.getLogger(__name__)
DEFAULT_WORKER = ["-m", "skills.train.worker"]
POLL_S = 0.25


class JobManager:
    """The one entry point other parts use for jobs."""

    def __init__(self, settings: Settings, *, worker: list[str] | None = None,
                 ray_resources: dict[str, float] | None = None) -> None:
        self.settings = settings
        self.store = JobStore(settings)
        self.worker = worker or DEFAULT_WORKER
        # Custom Ray resources a job needs on its worker node (the GPU box advertises {"trainer": 1}).
        self.ray_resources = ray_resources or {"trainer": 1.0}

    def submit(self, spec: BaseModel | dict[str, Any], executor: str | None = None, *,
               requester: str | None = None) -> str:
        """Queue a job for the spec on `executor` (default: settings.executor.kind) and start its supervisor.

        The job's checkpoints go to its own folder (home/jobs/<id>/checkpoints), so a retry resumes only
        from what this job saved, never from another job of the same adapter.
        """
        kind = executor or self.settings.executor.kind
        self.check_executor(kind)
        doc = spec.model_dump(mode="json") if isinstance(spec, BaseModel) else dict(spec)
        job = self.store.create(doc, executor=kind, worker=self.worker, requester=requester,
                                resources=self.ray_resources)
        folder = job_dir(self.settings, job.id)
        doc["checkpoint_dir"] = str(folder / "checkpoints")
        if "output_dir" in doc:  # a TrainSpec: its adapter's manifest records the job (loss curves, lineage)
            doc["job_id"] = job.id
        self.store.update(job.id, spec=doc)
        (folder / "spec.json").write_text(json.dumps(doc, indent=2), encoding="utf-8")
        self._start(job.id)
        log.info("job %s submitted to %s", job.id, kind)
        return job.id

    def check_executor(self, kind: str) -> None:
        """Refuse an unknown executor, or ray without an address, before anything is reserved or written."""
        if kind not in ("local", "ray"):
            raise UsageError(f"Unknown executor '{kind}'; use 'local' or 'ray'.")
        if kind == "ray" and not self.settings.executor.ray_address:
            raise ConfigError("The ray executor needs executor.ray_address (e.g. http://gpu-box:8265) in "
                              "selftune.toml or SELFTUNE_EXECUTOR__RAY_ADDRESS.")

    def _start(self, job_id: str, *, reattach: bool = False) -> None:
        pid = spawn_runner(self.settings, job_id, reattach=reattach)
        self.store.update(job_id, runner_pid=pid)

    def get(self, job_id: str) -> Job:
        """A job by id (or unique prefix, or 'latest'), after checking that an unfinished one is still supervised."""
        return self.check_supervisor(self.store.get(job_id))

    def current(self, requester: str | None = None) -> Job:
        """"The job": the running one (the requester's first), else the last one the requester started."""
        return self.check_supervisor(self.store.current(requester))

    def list(self, limit: int = 20) -> list[Job]:
        """Newest jobs first (unfinished ones checked for a dead supervisor)."""
        return [self.check_supervisor(job) for job in self.store.list(limit=limit)]

    def check_supervisor(self, job: Job) -> Job:
        """Notice an unfinished job whose supervisor died: re-attach to a live worker, else end it with a reason."""
        if job.done or supervisor_alive(self.settings, job):
            return job
        if not self.store.claim(job):  # another reader got there first and handles it
            return self.store.get(job.id)
        if worker_may_live(job):
            log.warning("job %s: supervisor pid %s is gone; re-attaching to its worker", job.id, job.runner_pid)
            self._start(job.id, reattach=True)
        else:
            self._close_orphan(job)
        return self.store.get(job.id)

    def _close_orphan(self, job: Job) -> None:
        """Record the truth about a job left behind by a dead supervisor and a gone (or never started) worker."""
        outcome = Outcome(state="failed")
        if job.state == "running" and job.executor == "local":
            from skills.jobs.local import LocalExecutor

            outcome = LocalExecutor(self.settings, self.store).collect(job)  # a `done` may have arrived unseen
        if outcome.state == "failed" and outcome.error in (None, describe_death(None, "this machine")):
            started = "and its training worker disappeared without finishing" if job.state == "running" \
                else "before the job started"
            outcome.error = (f"The job's supervisor (pid {job.runner_pid or '?'}) died {started}; "
                             f"`selftune jobs retry {job.id}` runs it again from its last checkpoint.")
        if self.store.transition(job.id, outcome.state, error=outcome.error, adapter=outcome.adapter):  # type: ignore[arg-type]
            self.store.note(job.id, outcome.error or f"Job {outcome.state} while unsupervised.")
            log.warning("job %s: supervisor gone; marked %s", job.id, outcome.state)

    def events(self, job_id: str, after: int = 0) -> list[dict[str, Any]]:
        """A job's events with seq > after, oldest first (each with event, seq, attempt, ts)."""
        job = self.store.get(job_id)
        return [e.as_dict() for e in self.store.events(job.id, after)]

    async def follow(self, job_id: str, after: int = 0) -> AsyncIterator[dict[str, Any]]:
        """Yield a job's events as they arrive, until it has ended; never blocks the event loop."""
        job = await asyncio.to_thread(self.store.get, job_id)
        while True:
            batch = await asyncio.to_thread(self.store.events, job.id, after)
            for event in batch:
                after = event.seq
                yield event.as_dict()
            if not batch:
                job = await asyncio.to_thread(self.get, job.id)  # ends the stream when the supervisor died
                if job.done and not await asyncio.to_thread(self.store.events, job.id, after, 1):
                    return
                await asyncio.sleep(POLL_S)

    async def watch(self, job_id: str, min_interval_s: float = 5.0) -> AsyncIterator[Job]:
        """Snapshots of a job at most every `min_interval_s` (and always the final one): one edited message per job."""
        last_sent = 0.0
        pending: Job | None = None
        async for _event in self.follow(job_id):
            pending = await asyncio.to_thread(self.store.get, job_id)
            if time.monotonic() - last_sent >= min_interval_s:
                last_sent = time.monotonic()
                yield pending
                pending = None
        final = await asyncio.to_thread(self.store.get, job_id)
        yield final

    def cancel(self, job_id: str) -> Job:
        """Ask a job to stop: its supervisor sends SIGTERM (Ray: stop_job), then SIGKILL after the grace period."""
        job = self.store.get(job_id)
        if job.done:
            raise UsageError(f"Job {job.id} already {job.state}; nothing to cancel.")
        self.store.update(job.id, cancel_requested=True)
        if not supervisor_alive(self.settings, job):
            self._cancel_unsupervised(job)
        return self.store.get(job.id)

    def _cancel_unsupervised(self, job: Job) -> None:
        """Cancel a job whose supervisor is gone (the machine restarted, or it was killed)."""
        if job.executor == "local":
            from skills.jobs.local import kill_orphan

            kill_orphan(self.settings, job)
        elif job.ray_job_id:
            from skills.jobs.ray_exec import RayExecutor

            RayExecutor(self.settings, self.store).stop(job)
        self.store.transition(job.id, "cancelled", error="Cancelled on request.")

    def retry(self, job_id: str) -> Job:
        """Run a failed or cancelled job again as its next attempt; the worker resumes from its last checkpoint."""
        job = self.store.get(job_id)
        if job.state not in ("failed", "cancelled"):
            raise UsageError(f"Job {job.id} is {job.state}; only failed or cancelled jobs can be retried.")
        moved = self.store.transition(
            job.id, "queued", only_from=frozenset({"failed", "cancelled"}), attempt=job.attempt + 1, error=None,
            finished_at=None, started_at=None, pid=None, ray_job_id=None, cancel_requested=False, adapter=None,
            runner_pid=None, runner_host=None, heartbeat_at=time.time(),  # claimed: a new supervisor is starting
        )
        if moved:
            self._start(job.id)
        return self.store.get(job.id)

    def reattach(self) -> list[str]:
        """After a restart: give every unfinished job whose supervisor is gone a new one; return their ids."""
        restarted = []
        for job in self.store.list(limit=1000, states=ACTIVE):
            if supervisor_alive(self.settings, job) or not self.store.claim(job):
                continue
            resumed = job.state == "running" or job.ray_job_id is not None
            log.info("job %s has no supervisor; %s", job.id, "re-attaching" if resumed else "starting it")
            self._start(job.id, reattach=resumed)
            restarted.append(job.id)
        return restarted

    def wait(self, job_id: str, timeout: float | None = None) -> Job:
        """Block until the job ends (or `timeout` seconds pass) and return it."""
        deadline = None if timeout is None else time.monotonic() + timeout
        job = self.store.get(job_id)
        while not job.done and (deadline is None or time.monotonic() < deadline):
            time.sleep(POLL_S)
            job = self.store.get(job.id)
        return job

    def log_text(self, job_id: str, tail: int = 200) -> str:
        """The last `tail` lines of the current attempt's stderr (local) or supervisor log."""
        from skills.jobs.procs import attempt_files

        job = self.store.get(job_id)
        _, stderr_path = attempt_files(self.settings, job.id, job.attempt)
        path = stderr_path if stderr_path.exists() else job_dir(self.settings, job.id) / "runner.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-tail:])

    def close(self) -> None:
        """Close the store connection."""
        self.store.close()
