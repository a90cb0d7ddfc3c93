"""Fixtures for the jobs tests: a JobManager driving the fake worker, and specs it understands."""

import os
import sys
import time
from pathlib import Path

import pytest

from skills.jobs import JobManager
from tests.conftest import MODEL_CACHE
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


BOX_HUB_ID = "selftune-test/tiny-qwen2"  # a Hub id only the GPU box's Hugging Face cache holds


def box_hub_cache(cache: Path) -> Path:
    """The GPU box's own HF cache: BOX_HUB_ID as a snapshot of the tiny Qwen2 model (files linked)."""
    from tests.models.conftest import tiny_arch

    repo = cache / f"models--{BOX_HUB_ID.replace('/', '--')}"
    snapshot = repo / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    for item in tiny_arch("qwen2").iterdir():
        (snapshot / item.name).symlink_to(item)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    return cache


@pytest.fixture(scope="session")
def ray_head(tmp_path_factory):
    """THE real Ray head of the test session (starting one costs tens of seconds on a small CI box): 127.0.0.1,
    one `trainer` resource, free ports; stopped (its process group) at the end. Every test that needs a head asks
    for `ray_settings`, which gives it its own host state dir. The "GPU box" has its own state dir; its models/ is
    the shared test cache so real workers find the tiny model, and its own HF cache holds BOX_HUB_ID."""
    from tests.jobs.two_machine_setup import RayHead

    box_home = tmp_path_factory.mktemp("gpu-box-home")
    (box_home / "models").symlink_to(MODEL_CACHE, target_is_directory=True)
    log = tmp_path_factory.mktemp("ray") / "head.log"
    with RayHead(box_home, log, env={"HF_HUB_CACHE": str(box_hub_cache(box_home / "hub"))},
                 start_timeout_s=90) as head:
        yield head.address


@pytest.fixture
def ray_settings(settings, ray_head, monkeypatch):
    """Settings on this test's own state dir (and environment, for the job supervisors) pointing the ray executor
    at the session's head; whatever Ray job the test left unfinished is stopped after it (job ids are random, so
    tests never share one)."""
    from tests.jobs.two_machine_setup import stop_leftover_ray_jobs

    monkeypatch.setenv("SELFTUNE_EXECUTOR__RAY_ADDRESS", ray_head)
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    yield settings.model_copy(update={"executor": settings.executor.model_copy(update={"ray_address": ray_head})})
    stop_leftover_ray_jobs(ray_head)


def wait_for(predicate, timeout=20.0):
    """Poll until predicate() is truthy (bounded); returns its value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")
