"""A preference stage continues the SFT stage's adapter (init_adapter) instead of starting from a blank LoRA."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file

from skills.train.spec import TrainSpec
from tests.train.conftest import dpo_rows, sft_rows, write_jsonl
from tests.train.helpers import make_spec, run_inprocess


def test_dpo_stage_starts_from_the_sft_adapter(tmp_path: Path, tiny_model_dir: Path) -> None:
    sft_data = write_jsonl(tmp_path / "sft.jsonl", sft_rows(24))
    rc, events = run_inprocess(make_spec(tmp_path, sft_data, max_steps=4), tiny_model_dir.parent)
    assert rc == 0, events
    sft_dir = Path(events[-1]["adapter_dir"])

    dpo_data = write_jsonl(tmp_path / "dpo.jsonl", dpo_rows(16))
    spec_path = make_spec(tmp_path, dpo_data, method="dpo", max_steps=2, learning_rate=1e-4)
    spec = TrainSpec.load(spec_path).model_copy(update={"init_adapter": sft_dir, "parent": "test-lora/v1"})
    rc, events = run_inprocess(spec.save(spec_path), tiny_model_dir.parent)
    assert rc == 0, events
    dpo_dir = Path(events[-1]["adapter_dir"])
    # A blank LoRA starts with B = 0 (a no-op); continuing keeps the SFT weights, nudged by two small steps.
    sft_w, dpo_w = load_file(sft_dir / "adapter_model.safetensors"), load_file(dpo_dir / "adapter_model.safetensors")
    assert sft_w.keys() == dpo_w.keys()
    b = next(k for k in sft_w if "lora_B" in k)
    assert torch.count_nonzero(sft_w[b]) > 0 and torch.allclose(sft_w[b], dpo_w[b], atol=5e-3)
    assert not torch.equal(sft_w[b], dpo_w[b])
    assert json.loads((dpo_dir / "manifest.json").read_text())["parent"] == "test-lora/v1"


def test_events_of_earlier_attempts_travel_with_the_adapter(tmp_path: Path, tiny_model_dir: Path) -> None:
    job = tmp_path / "jobs" / "j1"
    job.mkdir(parents=True)
    (job / "attempt-1.events.jsonl").write_text(
        json.dumps({"event": "progress", "step": 1, "loss": 9.5}) + "\nnot an event\n"
        + json.dumps({"event": "error", "message": "killed"}) + "\n")
    (job / "attempt-2.events.jsonl").write_text("")  # this attempt's own stdout
    data = write_jsonl(tmp_path / "sft.jsonl", sft_rows(16))
    spec_path = make_spec(tmp_path, data, max_steps=2)
    spec = TrainSpec.load(spec_path).model_copy(update={"checkpoint_dir": job / "checkpoints", "job_id": "j1"})
    rc, events = run_inprocess(spec.save(spec_path), tiny_model_dir.parent)
    assert rc == 0, events
    adapter = Path(events[-1]["adapter_dir"])
    saved = [json.loads(x) for x in (adapter / "events.jsonl").read_text().splitlines()]
    assert saved[0] == {"event": "progress", "step": 1, "loss": 9.5}
    assert not any(e["event"] == "error" for e in saved)
    assert [e["step"] for e in saved if e["event"] == "progress"][-1] == 2  # then this attempt's own
    assert json.loads((adapter / "manifest.json").read_text())["job_id"] == "j1"
