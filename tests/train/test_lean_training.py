"""Training through the lean loss end to end, and gradient checkpointing chosen from the memory estimate."""

from __future__ import annotations

import json
from pathlib import Path

from skills.train.preflight import GIB, choose_checkpointing, estimate_memory_bytes
from skills.train.spec import Hyper, TrainSpec
from tests.train.conftest import sft_rows, write_jsonl
from tests.train.helpers import make_spec, run_inprocess

SMOLLM2 = {"n_params": 135_000_000, "hidden": 576, "layers": 30}  # SmolLM2-135M's shape


def spec_of(**hyper: object) -> TrainSpec:
    return TrainSpec(name="x", base_model="smollm2", dataset=Path("d.jsonl"), output_dir=Path("out"),
                     hyper=Hyper(**{"batch_size": 4, "max_length": 512, **hyper}))


def test_checkpointing_only_when_activations_would_not_fit() -> None:
    spec = spec_of()
    without = estimate_memory_bytes(spec, **SMOLLM2, checkpointing=False)
    with_ckpt = estimate_memory_bytes(spec, **SMOLLM2, checkpointing=True)
    assert with_ckpt < without
    assert choose_checkpointing(spec, **SMOLLM2, free=64 * GIB) is False
    assert choose_checkpointing(spec, **SMOLLM2, free=int(without * 1.2)) is True  # fits, but without headroom
    bigger = spec_of(batch_size=64, max_length=4096)
    assert choose_checkpointing(bigger, **SMOLLM2, free=16 * GIB) is True


def test_worker_trains_with_the_lean_loss_and_records_the_choice(tmp_path: Path, tiny_model_dir: Path) -> None:
    data = write_jsonl(tmp_path / "d.jsonl", sft_rows(16))
    rc, events = run_inprocess(make_spec(tmp_path, data, max_steps=3), tiny_model_dir.parent)
    assert rc == 0, events[-1]
    done = next(e for e in events if e["event"] == "done")
    assert done["metrics"]["train_tokens"] > 0 and done["metrics"]["train_loss"] > 0
    progress = [e for e in events if e["event"] == "progress"]
    assert progress and all(e["loss"] == e["loss"] for e in progress)  # finite, not NaN
    saved = json.loads((Path(done["adapter_dir"]) / "train_spec.json").read_text())
    assert saved["hyper"]["gradient_checkpointing"] is False  # a tiny model on this machine: plenty of memory
