"""Training through the lean loss end to end, and gradient checkpointing chosen from the memory estimate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

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


def test_bf16_halves_the_frozen_weights_in_the_estimate() -> None:
    fp32 = estimate_memory_bytes(spec_of(bf16=False), **SMOLLM2, checkpointing=True)
    bf16 = estimate_memory_bytes(spec_of(bf16=True), **SMOLLM2, checkpointing=True)
    assert fp32 - bf16 == SMOLLM2["n_params"] * 2  # 4 -> 2 bytes per frozen parameter


def _first_loss(tmp_path: Path, tiny_model_dir: Path, bf16: bool | None) -> tuple[float, dict]:
    data = write_jsonl(tmp_path / "d.jsonl", sft_rows(16))
    folder = tmp_path / f"bf16-{bf16}"
    folder.mkdir()
    rc, events = run_inprocess(make_spec(folder, data, max_steps=2, logging_steps=1, eval_split=0.0, bf16=bf16),
                               tiny_model_dir.parent)
    assert rc == 0, events[-1]
    done = next(e for e in events if e["event"] == "done")
    return next(e for e in events if e["event"] == "progress")["loss"], done


def test_unset_bf16_follows_the_cpu_and_keeps_adapters_fp32(tmp_path: Path, tiny_model_dir: Path) -> None:
    from safetensors import safe_open

    from skills.train.preflight import bf16_native

    _loss, done = _first_loss(tmp_path, tiny_model_dir, None)
    adapter = Path(done["adapter_dir"])
    assert json.loads((adapter / "train_spec.json").read_text())["hyper"]["bf16"] is bf16_native("cpu")
    with safe_open(adapter / "adapter_model.safetensors", framework="pt") as fh:
        dtypes = {str(fh.get_tensor(key).dtype) for key in fh.keys()}  # noqa: SIM118 - safe_open has no iterator
    assert dtypes == {"torch.float32"}  # the trained LoRA weights keep full precision over a bf16 base


def test_bf16_loss_tracks_fp32_on_the_same_rows(tmp_path: Path, tiny_model_dir: Path) -> None:
    from skills.train.preflight import bf16_native

    if not bf16_native("cpu"):
        pytest.skip("this CPU has no native bf16 (AVX512-BF16/AMX); bf16 is not chosen here")
    fp32, _ = _first_loss(tmp_path, tiny_model_dir, False)
    bf16, _ = _first_loss(tmp_path, tiny_model_dir, True)
    assert abs(bf16 - fp32) / fp32 < 0.02  # same rows, seed and weights: only rounding differs


def test_bf16_loads_lora_bases_in_bf16_but_keeps_full_training_fp32(tmp_path: Path, tiny_model_dir: Path) -> None:
    import torch

    from skills.train.runtime import common_args, load_base

    lora = make_spec(tmp_path, write_jsonl(tmp_path / "d.jsonl", sft_rows(4)), bf16=True)
    spec = TrainSpec.load(lora)
    model, _tokenizer = load_base(spec, tiny_model_dir, "cpu")
    assert model.dtype == torch.bfloat16 and common_args(spec, "cpu", False)["bf16"] is True
    full = spec.model_copy(update={"method": "full"})
    assert load_base(full, tiny_model_dir, "cpu")[0].dtype == torch.float32  # AdamW updates need fp32 weights
    off = spec.model_copy(update={"hyper": spec.hyper.model_copy(update={"bf16": False})})
    assert load_base(off, tiny_model_dir, "cpu")[0].dtype == torch.float32 and not common_args(off, "cpu", False)["bf16"]


def test_unset_bf16_on_cpu_is_for_sft_only_and_an_explicit_choice_wins() -> None:
    from skills.train.preflight import bf16_native, use_bf16

    assert use_bf16(spec_of(), "cpu") is bf16_native("cpu")
    for method in ("dpo", "kto"):  # a preference margin is finer than bf16 early on: fp32 unless asked
        unset = spec_of().model_copy(update={"method": method})
        assert use_bf16(unset, "cpu") is False
        assert use_bf16(unset.model_copy(update={"hyper": spec_of(bf16=True).hyper}), "cpu") is True
    assert use_bf16(spec_of(bf16=False), "cpu") is False
