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


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def ray_head(tmp_path_factory):
    """A real Ray head on 127.0.0.1 with one `trainer` resource, on free ports; killed (its process group) at the end."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from ray.job_submission import JobSubmissionClient

    venv_bin = Path(sys.executable).parent
    temp = Path(f"/tmp/st-ray-{os.getpid()}")  # short: Ray's socket paths must stay under ~107 chars
    dash, gcs, client_port, agent = (_free_port() for _ in range(4))
    argv = [str(venv_bin / "ray"), "start", "--head", "--block", "--node-ip-address=127.0.0.1",
            "--dashboard-host=127.0.0.1", f"--dashboard-port={dash}", f"--port={gcs}",
            f"--ray-client-server-port={client_port}", f"--dashboard-agent-listen-port={agent}",
            "--num-cpus=2", '--resources={"trainer": 1}', "--disable-usage-stats", f"--temp-dir={temp}",
            "--include-dashboard=true"]
    # The "GPU box" has its own state dir; its models/ is the shared test cache so real workers find the tiny model.
    box_home = tmp_path_factory.mktemp("gpu-box-home")
    (box_home / "models").symlink_to(MODEL_CACHE, target_is_directory=True)
    env = {**os.environ, "PATH": f"{venv_bin}:{os.environ['PATH']}", "RAY_USAGE_STATS_ENABLED": "0",
           "SELFTUNE_HOME": str(box_home), "HF_HUB_CACHE": str(box_hub_cache(box_home / "hub")), "HF_HUB_OFFLINE": "1"}
    log = (tmp_path_factory.mktemp("ray") / "head.log").open("wb")
    proc = subprocess.Popen(argv, stdout=log, stderr=log, env=env, start_new_session=True)
    address = f"http://127.0.0.1:{dash}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                JobSubmissionClient(address).list_jobs()
                break
            except Exception:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"Ray head did not start; see {log.name}") from None
                time.sleep(0.5)
        yield address
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()


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
