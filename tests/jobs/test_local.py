"""The local executor end to end with the fake worker: queue, cancel, SIGKILL, retry, re-attach, follow."""

import asyncio
import os
import signal
import time

import pytest

from config.errors import UsageError
from skills.jobs import JobManager
from skills.jobs.procs import alive
from tests.jobs.conftest import FAKE_WORKER, wait_for


def running_with_progress(manager, job_id, step=1):
    job = manager.get(job_id)
    return job.state == "running" and job.progress.get("step", 0) >= step and job.pid


def test_job_runs_to_success_and_records_events(manager, fake_spec):
    job_id = manager.submit(fake_spec())
    job = manager.wait(job_id, timeout=30)
    assert job.state == "succeeded", job.error
    assert job.adapter and (job.adapter.endswith("v1"))
    assert job.progress["step"] == 6 and job.progress["max_steps"] == 6
    kinds = [e["event"] for e in manager.events(job_id)]
    assert kinds[0] == "start" and kinds[-1] == "done"
    assert kinds.count("progress") == 6 and kinds.count("checkpoint") == 3


def test_one_heavy_job_at_a_time(manager, fake_spec):
    first = manager.submit(fake_spec("a", steps=25, step_s=0.1))
    second = manager.submit(fake_spec("b", steps=2))
    wait_for(lambda: manager.get(second).waiting)
    assert manager.get(second).state == "queued"
    a, b = manager.wait(first, 30), manager.wait(second, 30)
    assert a.state == b.state == "succeeded"
    assert b.started_at >= a.finished_at - 0.5  # b only started once a had ended
    assert any("one job at a time" in e.get("message", "") for e in manager.events(second))


def test_cancel_mid_run_checkpoints_then_stops(manager, fake_spec):
    job_id = manager.submit(fake_spec(steps=50, step_s=0.2))
    wait_for(lambda: running_with_progress(manager, job_id))
    manager.cancel(job_id)
    job = manager.wait(job_id, 15)
    assert job.state == "cancelled"
    assert any(e["event"] == "message" and "SIGTERM" in e["message"] for e in manager.events(job_id))
    with pytest.raises(UsageError, match="already cancelled"):
        manager.cancel(job_id)


def test_cancel_escalates_to_sigkill_after_grace(settings, fake_spec, monkeypatch):
    monkeypatch.setenv("SELFTUNE_EXECUTOR__CANCEL_GRACE_S", "0.5")
    manager = JobManager(settings, worker=[str(FAKE_WORKER)])
    job_id = manager.submit(fake_spec(steps=200, step_s=0.1, ignore_sigterm=True))
    wait_for(lambda: running_with_progress(manager, job_id))
    start = time.monotonic()
    manager.cancel(job_id)
    job = manager.wait(job_id, 15)
    assert job.state == "cancelled" and time.monotonic() - start < 5


def test_queued_job_can_be_cancelled_before_it_starts(manager, fake_spec):
    first = manager.submit(fake_spec("a", steps=300, step_s=0.1))
    second = manager.submit(fake_spec("b"))
    wait_for(lambda: manager.get(second).waiting)
    assert manager.cancel(second).cancel_requested
    assert manager.wait(second, 10).state == "cancelled"
    manager.cancel(first)


def test_sigkilled_worker_fails_with_reason_and_retry_resumes(manager, fake_spec):
    job_id = manager.submit(fake_spec(steps=12, step_s=0.15))
    wait_for(lambda: running_with_progress(manager, job_id, step=3))
    os.kill(manager.get(job_id).pid, signal.SIGKILL)
    job = manager.wait(job_id, 15)
    assert job.state == "failed" and "SIGKILL" in job.error and "out-of-memory" in job.error
    assert job.adapter is None

    retried = manager.retry(job_id)
    assert retried.attempt == 2 and retried.state in ("queued", "running")
    job = manager.wait(job_id, 30)
    assert job.state == "succeeded"
    start = [e for e in manager.events(job_id) if e["event"] == "start" and e["attempt"] == 2][0]
    assert start["resumed_from"] >= 2


def test_error_event_fails_the_job(manager, fake_spec):
    job = manager.wait(manager.submit(fake_spec(fail_at=2)), 20)
    assert job.state == "failed" and "CUDA out of memory at step 2" in job.error
    with pytest.raises(UsageError):
        manager.retry(manager.submit(fake_spec("other", steps=40, step_s=0.2)))


def test_restart_reattaches_to_a_running_worker(settings, manager, fake_spec):
    job_id = manager.submit(fake_spec(steps=16, step_s=0.15))
    wait_for(lambda: running_with_progress(manager, job_id, step=2))
    runner = manager.get(job_id).runner_pid
    os.kill(runner, signal.SIGKILL)  # the supervisor dies with the "bot"
    wait_for(lambda: not alive(runner, job_id))

    restarted = JobManager(settings, worker=[str(FAKE_WORKER)])
    assert restarted.reattach() == [job_id]
    assert restarted.reattach() == []  # already supervised again
    job = restarted.wait(job_id, 30)
    assert job.state == "succeeded"
    steps = [e["step"] for e in restarted.events(job_id) if e["event"] == "progress"]
    assert steps == list(range(1, 17))  # nothing lost, nothing duplicated
    restarted.close()


def test_reattach_marks_a_vanished_worker_failed(settings, manager, fake_spec):
    job_id = manager.submit(fake_spec(steps=40, step_s=0.15))
    wait_for(lambda: running_with_progress(manager, job_id))
    job = manager.get(job_id)
    os.kill(job.runner_pid, signal.SIGKILL)
    os.kill(job.pid, signal.SIGKILL)
    wait_for(lambda: not alive(job.pid, job_id) and not alive(job.runner_pid, job_id))
    JobManager(settings, worker=[str(FAKE_WORKER)]).reattach()
    job = manager.wait(job_id, 15)
    assert job.state == "failed" and "disappeared" in job.error


async def test_follow_streams_events_without_blocking_the_loop(manager, fake_spec):
    job_id = manager.submit(fake_spec(steps=8, step_s=0.05))
    ticks, worst = 0, 0.0

    async def ticker():
        nonlocal ticks, worst
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.01)
            worst = max(worst, time.perf_counter() - before - 0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    kinds = [e["event"] async for e in manager.follow(job_id)]
    task.cancel()
    assert kinds[0] == "start" and kinds[-1] == "done" and kinds.count("progress") == 8
    assert ticks > 10 and worst < 0.5
    snapshots = [job async for job in manager.watch(job_id, min_interval_s=60)]
    assert snapshots[-1].state == "succeeded"
