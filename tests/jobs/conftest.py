"""Fixtures for the jobs tests: a JobManager driving the fake worker, and specs it understands."""

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
    """A real Ray head on 127.0.0.1 with one `trainer` resource, on free ports; stopped (its process group) at the
    end. The "GPU box" has its own state dir; its models/ is the shared test cache so real workers find the tiny
    model, and its own HF cache holds BOX_HUB_ID."""
    from tests.jobs.two_machine_setup import RayHead

    box_home = tmp_path_factory.mktemp("gpu-box-home")
    (box_home / "models").symlink_to(MODEL_CACHE, target_is_directory=True)
    log = tmp_path_factory.mktemp("ray") / "head.log"
    with RayHead(box_home, log, env={"HF_HUB_CACHE": str(box_hub_cache(box_home / "hub"))},
                 start_timeout_s=90) as head:
        yield head.address


@pytest.fixture
def ray_settings(settings, ray_head, monkeypatch):
    """Settings (and environment, for the job supervisors) pointing the ray executor at the test head."""
    monkeypatch.setenv("SELFTUNE_EXECUTOR__RAY_ADDRESS", ray_head)
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}:{__import__('os').environ['PATH']}")
    return settings.model_copy(update={"executor": settings.executor.model_copy(update={"ray_address": ray_head})})


def wait_for(predicate, timeout=20.0):
    """Poll until predicate() is truthy (bounded); returns its value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")
