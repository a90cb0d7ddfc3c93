"""The Ray executor against a real local Ray head (slow: the session's one head, tests/jobs/conftest.py)."""

from pathlib import Path

import pytest

from skills.jobs import JobManager
from tests.helpers import stop_unfinished_jobs
from tests.jobs.conftest import FAKE_WORKER, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
def ray_manager(ray_settings):
    mgr = JobManager(ray_settings, worker=[str(FAKE_WORKER)])
    yield mgr
    stop_unfinished_jobs(mgr, timeout=30)


def test_fake_job_through_ray_fetches_the_adapter(ray_manager, fake_spec, tmp_path):
    data = tmp_path / "data.jsonl"
    data.write_text('{"messages": []}\n')
    spec = {**fake_spec(steps=4), "dataset": str(data)}
    job_id = ray_manager.submit(spec, executor="ray")
    job = ray_manager.wait(job_id, 90)
    assert job.state == "succeeded", (job.error, ray_manager.log_text(job_id))
    assert job.adapter == spec["output_dir"]

    assert (Path(job.adapter) / "manifest.json").is_file() and (Path(job.adapter) / "adapter_model.safetensors").is_file()
    kinds = [e["event"] for e in ray_manager.events(job_id)]
    assert "artifact" not in kinds and kinds.count("progress") == 4 and "done" in kinds


def test_cancel_a_ray_job_mid_run(ray_manager, fake_spec):
    job_id = ray_manager.submit(fake_spec(steps=200, step_s=0.2), executor="ray")
    wait_for(lambda: ray_manager.get(job_id).progress.get("step", 0) >= 1, timeout=60)
    ray_manager.cancel(job_id)
    job = ray_manager.wait(job_id, 60)
    assert job.state == "cancelled"


def test_job_waits_visibly_without_a_trainer_worker(ray_settings, fake_spec):
    mgr = JobManager(ray_settings, worker=[str(FAKE_WORKER)], ray_resources={"gpu_box_nobody_has": 1})
    job_id = mgr.submit(fake_spec(), executor="ray")
    job = wait_for(lambda: (j := mgr.get(job_id)).waiting and j, timeout=60)
    assert job.state == "queued" and "Waiting for a trainer worker" in job.waiting
    from skills.jobs.format import describe

    assert "Waiting for a trainer worker" in describe(job)
    mgr.cancel(job_id)
    assert mgr.wait(job_id, 60).state == "cancelled"
    mgr.close()


def test_real_tiny_training_job_through_ray(ray_settings, tmp_path):
    """The real worker trains the tiny model on the Ray node; the adapter comes back complete and registered."""
    import json

    from skills.train.adapters import get_adapter
    from skills.train.spec import spec_from_recipe

    rows = [{"messages": [{"role": "user", "content": f"Say hi {i}"}, {"role": "assistant", "content": "Arr, hi matey!"}]}
            for i in range(24)]
    data = tmp_path / "pirate.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec = spec_from_recipe(ray_settings, "persona-lora", dataset=data, name="pirate-ray", max_steps=6)
    mgr = JobManager(ray_settings)
    try:
        job = mgr.wait(mgr.submit(spec, executor="ray"), 240)
        assert job.state == "succeeded", (job.error, mgr.log_text(job.id))
        kinds = [e["event"] for e in mgr.events(job.id)]
        assert "start" in kinds and "progress" in kinds and kinds[-1] == "done"
        adapter = get_adapter(ray_settings, "pirate-ray/v1")
        assert Path(adapter.path, "adapter_model.safetensors").is_file() and adapter.metrics["steps"] == 6
    finally:
        mgr.close()
