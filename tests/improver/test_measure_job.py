"""The improver's model measurements as jobs (improver.measure_job): what the GPU box runs with executor ray,
here on the local executor (a real job process), gives the numbers the in-process measurement gives."""

from __future__ import annotations

import json
from pathlib import Path

from config.settings import Settings
from improver import holdout
from improver.eval_config import from_settings
from improver.metrics import losses_with_adapter
from improver.on_worker import measure


def test_adapter_losses_measured_as_a_job_match_the_in_process_ones(settings: Settings, tiny_model_dir: Path) -> None:
    from skills.jobs import JobManager
    from tests.eval.conftest import train_adapter

    rows = holdout.recipe_rows(settings.holdout_dir, "default")[0]
    adapter = train_adapter(tiny_model_dir, rows, settings.artifacts_dir / "adapters" / "pirate-lora" / "v1", steps=3)
    messages = [r["messages"] for r in rows[:3]]
    cfg = from_settings(settings, executor="local")
    sides = measure(cfg, "adapter_losses", {"rows": messages, "sides": ["adapter", None]}, base_model="tiny",
                    adapters=(adapter, None))
    here = [losses_with_adapter(settings.models_dir, "tiny", adapter, messages),
            losses_with_adapter(settings.models_dir, "tiny", None, messages)]
    assert [[round(x, 4) for x in side] for side in sides] == [[round(x, 4) for x in side] for side in here]
    manager = JobManager(settings)
    try:
        [job] = manager.store.list()
    finally:
        manager.close()
    assert job.spec["kind"] == "measure" and job.requester == "improver" and job.state == "succeeded"
    assert json.loads((Path(job.adapter) / "result.json").read_text())["task"] == "adapter_losses"


def test_an_unknown_measurement_is_one_sentence(settings: Settings) -> None:
    import pytest

    from config.errors import SelftuneError
    from improver.measure_job import run

    with pytest.raises(SelftuneError, match="Unknown measurement 'nap'"):
        run({"task": "nap", "base_model": "tiny", "payload": {}, "output_dir": str(settings.home / "x")}, None)
