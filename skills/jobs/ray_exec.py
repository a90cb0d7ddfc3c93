"""The Ray executor: the worker runs on a node advertising the `trainer` resource, via Ray's Job Submission API.

The spec, dataset (and a worker script, in tests) travel in the runtime_env working_dir; events come back
through `tail_job_logs`; the finished adapter comes back as `artifact` events and is unpacked next to its
final folder, then renamed into place, so nothing half-written is ever visible.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import shlex
import shutil
import tarfile
import time
from pathlib import Path
from typing import Any

from config.errors import SelftuneError
from config.settings import Settings
from skills.jobs.procs import job_dir
from skills.jobs.protocol import EventSink, Outcome, judge
from skills.jobs.store import Job, JobStore

log = logging.getLogger(__name__)
PENDING_NOTICE_S = 3.0  # how long a job may sit in PENDING before we tell the user why
POLL_S = 0.5


def trainer_nodes(address: str, timeout: float = 3.0) -> int | None:
    """How many alive nodes of the Ray cluster at `address` advertise the `trainer` resource (Ray's state API,
    no Ray import); None when the head does not say."""
    import httpx

    try:
        resp = httpx.get(f"{address.rstrip('/')}/api/v0/nodes", params={"limit": 100, "detail": "true"},
                         timeout=timeout)
        nodes = resp.json()["data"]["result"]["result"]
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return None
    if not nodes:  # the head is a node itself: none listed means its state API is not populated yet
        return None
    return sum(1 for node in nodes if isinstance(node, dict) and node.get("state") == "ALIVE"
               and float((node.get("resources_total") or {}).get("trainer", 0)) > 0)


class RayUnavailable(SelftuneError):
    """The Ray head at executor.ray_address cannot be reached."""


class ArtifactSink(EventSink):
    """An EventSink that assembles `artifact` chunks instead of storing them."""

    def __init__(self, store: JobStore, job_id: str, attempt: int) -> None:
        super().__init__(store, job_id, attempt)
        self.chunks: dict[int, str] = {}
        self.count = 0
        self.lines = 0

    def feed(self, line: str) -> dict[str, Any] | None:
        self.lines += 1
        if line.startswith('{"event": "artifact"'):
            from skills.jobs.protocol import parse_line

            doc = parse_line(line)
            if doc is not None:
                self.chunks[int(doc["index"])], self.count = doc["data"], int(doc["count"])
                return None
        return super().feed(line)

    def artifact(self) -> bytes | None:
        """The whole artifact, once every chunk arrived."""
        if not self.count or len(self.chunks) != self.count:
            return None
        return b"".join(base64.b64decode(self.chunks[i]) for i in range(self.count))


class RayExecutor:
    """Submits, follows, stops and fetches back Ray jobs (inside the job's supervisor process)."""

    name = "ray"

    def __init__(self, settings: Settings, store: JobStore) -> None:
        self.settings, self.store = settings, store
        self.address = settings.executor.ray_address or ""

    def client(self) -> Any:
        """A JobSubmissionClient for the configured head, with a clear error when it is unreachable."""
        from ray.job_submission import JobSubmissionClient

        try:
            return JobSubmissionClient(self.address)
        except Exception as exc:
            raise RayUnavailable(f"Cannot reach the Ray head at {self.address} ({exc}); start it on the GPU box "
                                 "(docs/two-machines.md) or check executor.ray_address.") from None

    def run(self, job: Job, *, reattach: bool = False) -> Outcome:
        """Submit (or re-attach to) the job's Ray job and follow it to its end."""
        client = self.client()
        if not (reattach and job.ray_job_id):
            job = self._submit(client, job)
        return asyncio.run(self._follow(client, job))

    def _submit(self, client: Any, job: Job) -> Job:
        workdir = self._working_dir(job)
        worker = [Path(a).name if Path(a).is_file() else a for a in job.worker]
        entry = ["python", "-m", "skills.jobs.ray_entry", "spec.json", "--key", job.id, "--", *worker]
        submission_id = f"selftune-{job.id}-{job.attempt}"
        client.submit_job(entrypoint=shlex.join(entry), submission_id=submission_id,
                          runtime_env={"working_dir": str(workdir)}, entrypoint_resources=job.resources,
                          metadata={"selftune_job": job.id, "name": job.name})
        self.store.update(job.id, ray_job_id=submission_id)
        self.store.note(job.id, f"Submitted to Ray at {self.address} as {submission_id}.")
        return self.store.get(job.id)

    def _shipped_spec(self, job: Job, dest: Path) -> None:
        """The spec as shipped: the base named as the worker knows it (executor.worker_base_models), so the
        worker resolves it in its own models/ and Hugging Face cache; the local spec.json stays as submitted."""
        spec = json.loads((job_dir(self.settings, job.id) / "spec.json").read_text(encoding="utf-8"))
        if spec.get("base_model"):
            spec["base_model"] = self.settings.executor.worker_base_models.get(spec["base_model"], spec["base_model"])
        dest.write_text(json.dumps(spec, indent=2), encoding="utf-8")

    def _working_dir(self, job: Job) -> Path:
        """A folder with spec.json, data/<dataset files> and any worker script, shipped by Ray."""
        folder = job_dir(self.settings, job.id) / f"ray-attempt-{job.attempt}"
        shutil.rmtree(folder, ignore_errors=True)
        (folder / "data").mkdir(parents=True)
        self._shipped_spec(job, folder / "spec.json")
        for field in ("dataset", "eval_dataset", "holdout_dataset"):
            if job.spec.get(field) and Path(job.spec[field]).is_file():
                shutil.copy(job.spec[field], folder / "data" / Path(job.spec[field]).name)
        # an eval job's adapter travels too, and the gate's served adapter it is compared against
        for field, under in (("adapter", "adapter"), ("against_adapter", "against")):
            if job.spec.get(field) and Path(job.spec[field]).is_dir():
                shutil.copytree(job.spec[field], folder / under / Path(job.spec[field]).name,
                                ignore=shutil.ignore_patterns("checkpoint-*"))
        for arg in job.worker:
            if Path(arg).is_file():
                shutil.copy(arg, folder / Path(arg).name)
        return folder

    async def _follow(self, client: Any, job: Job) -> Outcome:
        """Stream logs into the store while watching the Ray job's status; then judge and fetch the adapter."""
        sink = ArtifactSink(self.store, job.id, job.attempt)
        tail = asyncio.create_task(self._tail(client, job, sink))
        status = await self._watch_status(client, job)
        try:
            await asyncio.wait_for(tail, timeout=3)
        except (TimeoutError, Exception):  # the stream may end abruptly with the job; logs are re-read below
            tail.cancel()
        self._reread_logs(client, job, sink)
        return self._outcome(job, status, sink, client)

    async def _tail(self, client: Any, job: Job, sink: ArtifactSink) -> None:
        buffer = ""
        async for chunk in client.tail_job_logs(job.ray_job_id):
            *lines, buffer = (buffer + chunk).split("\n")
            for line in lines:
                sink.feed(line)

    def _reread_logs(self, client: Any, job: Job, sink: ArtifactSink) -> None:
        """Read the full log once more: a fresh sink re-stores only what the stream missed (ordinals dedupe)."""
        fresh = ArtifactSink(self.store, job.id, job.attempt)
        for line in client.get_job_logs(job.ray_job_id).splitlines():
            fresh.feed(line)
        if fresh.lines >= sink.lines:
            sink.last, sink.chunks, sink.count = {**sink.last, **fresh.last}, fresh.chunks, fresh.count

    async def _watch_status(self, client: Any, job: Job) -> str:
        """Poll the Ray job's status until terminal, marking running, noting a wait, forwarding a cancel."""
        submitted, noticed, stop_sent_at = time.monotonic(), False, None
        while True:
            status = str((await asyncio.to_thread(client.get_job_status, job.ray_job_id)).value)
            current = await asyncio.to_thread(self.store.get, job.id)
            if status == "RUNNING" and current.state == "queued":
                self.store.transition(job.id, "running", only_from=frozenset({"queued"}), waiting=None)
            if status == "PENDING" and not noticed and time.monotonic() - submitted > PENDING_NOTICE_S:
                noticed = True
                self._note_waiting(job)
            if current.cancel_requested and stop_sent_at is None:
                stop_sent_at = time.monotonic()
                await asyncio.to_thread(client.stop_job, job.ray_job_id)
            if status in ("SUCCEEDED", "FAILED", "STOPPED"):
                return status
            if status == "PENDING" and stop_sent_at and time.monotonic() - stop_sent_at > PENDING_NOTICE_S:
                return "STOPPED"  # Ray keeps a stopped never-scheduled job PENDING; it will not start any more
            await asyncio.sleep(POLL_S)

    def _note_waiting(self, job: Job) -> None:
        wanted = ", ".join(f"'{k}'" for k in job.resources)
        reason = (f"Waiting for a trainer worker: no Ray node with a free {wanted} resource is online at "
                  f"{self.address}; on the GPU box run `ray start --address=<head>:6379 "
                  "--resources='{\"trainer\": 1}'` (docs/two-machines.md).")
        self.store.update(job.id, waiting=reason)
        self.store.note(job.id, reason)

    def _outcome(self, job: Job, status: str, sink: ArtifactSink, client: Any) -> Outcome:
        where = f"the Ray node ({self.address})"
        cancel_requested = self.store.get(job.id).cancel_requested or status == "STOPPED"
        done = sink.last.get("done")
        if status == "SUCCEEDED" and done is not None:
            local = self._unpack(job, sink.artifact())
            if local is not None:
                sink.last["done"] = {**done, "adapter_dir": str(local)}
        outcome = judge(sink.last, None, cancel_requested=cancel_requested, where=where)
        if outcome.state == "failed" and status == "FAILED" and "disappeared" in (outcome.error or ""):
            message = client.get_job_info(job.ray_job_id).message or "no reason given"
            outcome.error = f"The Ray job failed on {where}: {message.strip().splitlines()[-1]}; retry to resume."
        return outcome

    def _unpack(self, job: Job, data: bytes | None) -> Path | None:
        """Extract the shipped adapter into a temp sibling of output_dir, then rename it into place."""
        if data is None:
            return None
        final = Path(job.spec["output_dir"])
        tmp = final.with_name(final.name + f".fetch-{job.id}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            tar.extractall(tmp, filter="data")
        tmp.replace(final)
        return final

    def stop(self, job: Job) -> None:
        """Ask Ray to stop the job (SIGTERM, then SIGKILL after Ray's own grace period)."""
        if job.ray_job_id:
            self.client().stop_job(job.ray_job_id)
