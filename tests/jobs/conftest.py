"""Fixtures for the jobs tests: a JobManager driving the fake worker, and specs it understands. The Ray head
they share (`ray_head`, `ray_settings`) is the whole suite's, in tests/conftest.py."""

import time
from pathlib import Path

import pytest

from skills.jobs import JobManager
from tests.helpers import stop_unfinished_jobs

FAKE_WORKER = Path(__file__).with_name("fake_worker.py")


@pytest.fixture
def fake_spec(settings):
    """A spec dict for the fake worker; tweak `fake` knobs per test."""

    def make(name="pirate", steps=6, **fake):
        base = settings.artifacts_dir / "adapters" / name
        return {"name": name, "method": "lora", "dataset": "data.jsonl", "output_dir": str(base / "v1"),
                "checkpoint_dir": str(settings.home / "checkpoints" / name), "hyper": {"max_steps": steps, "save_steps": 2},
                "fake": {"step_s": 0.05, **fake}}

    return make


@pytest.fixture
def manager(settings):
    """A JobManager whose worker is the fake; stops every job it started at teardown."""
    mgr = JobManager(settings, worker=[str(FAKE_WORKER)])
    yield mgr
    stop_unfinished_jobs(mgr)


def wait_for(predicate, timeout=20.0):
    """Poll until predicate() is truthy (bounded); returns its value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")
