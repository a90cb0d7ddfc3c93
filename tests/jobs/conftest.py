"""Fixtures for the jobs tests: a JobManager driving the fake worker, and specs it understands."""

from pathlib import Path

import pytest

from skills.jobs import JobManager

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
    for job in mgr.list(limit=100):
        if not job.done:
            try:
                mgr.cancel(job.id)
            except Exception:
                pass
            mgr.wait(job.id, timeout=10)
    mgr.close()


