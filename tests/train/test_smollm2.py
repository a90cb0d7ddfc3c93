"""One real adapter on SmolLM2-135M (a few steps): the engine works on the model users actually get."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from skills.train.spec import TrainSpec, sha256_file
from tests.train.conftest import sft_rows, write_jsonl
from tests.train.helpers import FAST, run_inprocess


@pytest.mark.slow
def test_smollm2_lora_few_steps(smollm2_dir: Path, tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "data.jsonl", sft_rows(24))
    hyper = {**FAST, "learning_rate": 1e-3, "max_steps": 4, "batch_size": 2, "max_length": 128, "eval_split": 0.25}
    spec = TrainSpec(name="smol", base_model=str(smollm2_dir), dataset=data, dataset_sha256=sha256_file(data),
                     output_dir=tmp_path / "adapters" / "smol" / "v1", hyper=hyper)
    rc, events = run_inprocess(spec.save(tmp_path / "spec.json"), smollm2_dir.parent)
    assert rc == 0, events
    metrics = events[-1]["metrics"]
    assert metrics["steps"] == 4 and metrics["eval_loss"] < metrics["base_eval_loss"]
    manifest = json.loads((Path(events[-1]["adapter_dir"]) / "manifest.json").read_text())
    assert manifest["base_model"] == str(smollm2_dir)
