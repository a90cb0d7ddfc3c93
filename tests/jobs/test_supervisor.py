"""A dead supervisor is noticed by whoever reads the job (`jobs show`, `jobs logs --follow`), not only by
`selftune run`: the job is re-attached to a worker that still runs, or ends failed with the reason."""

import json
import os
import signal
import time

import pytest
from typer.testing import CliRunner

from agent.cli.main import app
from skills.jobs.liveness import supervisor_alive
from skills.jobs.procs import alive
from tests.jobs.conftest import wait_for
from tests.jobs.test_local import running_with_progress


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


def kill(pid: int, job_id: str) -> None:
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not alive(pid, job_id))


@pytest.mark.timeout(60)
def test_killed_supervisor_and_worker_show_as_failed_with_the_reason(settings, manager, fake_spec):
    job_id = manager.submit(fake_spec(steps=60, step_s=0.1))
    wait_for(lambda: running_with_progress(manager, job_id, step=2))
    row = manager.store.get(job_id)  # the stored row, as nobody has looked at it yet
    kill(row.runner_pid, job_id)
    kill(row.pid, job_id)
    assert manager.store.get(job_id).state == "running"  # what every reader used to see, forever

    shown = cli("jobs", "show", job_id, "--json")
    assert shown.exit_code == 0, shown.output
    doc = json.loads(shown.stdout)
    assert doc["state"] == "failed"
    assert f"supervisor (pid {row.runner_pid}) died" in doc["error"] and "jobs retry" in doc["error"]
    follow = cli("jobs", "logs", job_id, "--follow")  # ends instead of hanging
    assert follow.exit_code == 0 and f"Job {job_id} (" in follow.stdout and ") failed:" in follow.stdout
    assert "supervisor" in follow.stdout  # the reason is in the job's events too


@pytest.mark.timeout(90)
def test_follow_reattaches_to_a_worker_that_outlived_its_supervisor(settings, manager, fake_spec):
    job_id = manager.submit(fake_spec(steps=16, step_s=0.15))
    wait_for(lambda: running_with_progress(manager, job_id, step=2))
    runner = manager.store.get(job_id).runner_pid
    kill(runner, job_id)

    follow = cli("jobs", "logs", job_id, "--follow")
    assert follow.exit_code == 0 and f"Job {job_id} (" in follow.stdout and ") succeeded (" in follow.stdout
    job = manager.get(job_id)
    assert job.runner_pid not in (None, runner)
    steps = [e["step"] for e in manager.events(job_id) if e["event"] == "progress"]
    assert steps == list(range(1, 17))  # nothing lost, nothing twice


def test_supervisor_records_pid_host_and_a_heartbeat(settings, manager, fake_spec):
    job_id = manager.submit(fake_spec(steps=40, step_s=0.1))
    wait_for(lambda: running_with_progress(manager, job_id, step=1))
    first = manager.get(job_id)
    assert first.runner_host and alive(first.runner_pid, job_id)
    assert wait_for(lambda: manager.get(job_id).heartbeat_at > first.heartbeat_at, timeout=10)
    # A supervisor on another machine sharing the state dir is judged by its heartbeat's age.
    remote = first.model_copy(update={"runner_host": "gpu-box", "heartbeat_at": time.time()})
    assert supervisor_alive(settings, remote)
    stale = remote.model_copy(update={"heartbeat_at": time.time() - settings.executor.heartbeat_stale_s - 1})
    assert not supervisor_alive(settings, stale)
    # A supervisor that is being started has no pid yet, only a fresh claim.
    assert supervisor_alive(settings, first.model_copy(update={"runner_pid": None, "heartbeat_at": time.time()}))
    assert not supervisor_alive(settings, first.model_copy(update={"runner_pid": None, "heartbeat_at": 0.0}))
