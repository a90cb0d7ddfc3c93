"""`device = "auto"`: cuda, then Apple's mps, then cpu; Unsloth only on CUDA; the manifest says which ran.

The two hardware probes are the process boundary here (this machine has neither GPU), so they are replaced."""

from __future__ import annotations

from pathlib import Path

import pytest

from skills.train import preflight
from skills.train.preflight import PreflightError, pick_backend, pick_device
from skills.train.runtime import ran_with
from skills.train.spec import TrainSpec


def spec(tmp_path: Path, **fields) -> TrainSpec:
    return TrainSpec(name="pirate-lora", base_model="tiny", dataset=tmp_path / "d.jsonl", dataset_sha256="0" * 64,
                     output_dir=tmp_path / "out", **fields)


def machine(monkeypatch: pytest.MonkeyPatch, *, cuda: bool, mps: bool) -> None:
    monkeypatch.setattr(preflight, "cuda_available", lambda: cuda)
    monkeypatch.setattr(preflight, "mps_available", lambda: mps)


@pytest.mark.parametrize(("cuda", "mps", "picked"), [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")])
def test_auto_picks_cuda_then_mps_then_cpu(tmp_path, monkeypatch, cuda: bool, mps: bool, picked: str) -> None:
    machine(monkeypatch, cuda=cuda, mps=mps)
    assert pick_device(spec(tmp_path)) == picked
    assert pick_device(spec(tmp_path, device="cpu")) == "cpu"


def test_a_device_that_is_not_here_is_one_sentence(tmp_path, monkeypatch) -> None:
    machine(monkeypatch, cuda=False, mps=False)
    with pytest.raises(PreflightError, match=r"asks for device 'mps' but this machine has no Apple GPU"):
        pick_device(spec(tmp_path, device="mps"))
    machine(monkeypatch, cuda=False, mps=True)
    with pytest.raises(PreflightError, match=r"do not run on Apple's mps; use method 'lora'"):
        pick_device(spec(tmp_path, method="qlora"))


def test_unsloth_only_on_cuda(tmp_path, monkeypatch) -> None:
    (tmp_path / "unsloth").mkdir()
    (tmp_path / "unsloth" / "__init__.py").write_text("")  # installed, as far as find_spec can tell
    monkeypatch.syspath_prepend(str(tmp_path))
    assert pick_backend(spec(tmp_path), "cuda") == "unsloth"
    assert pick_backend(spec(tmp_path), "mps") == "trl" and pick_backend(spec(tmp_path), "cpu") == "trl"
    with pytest.raises(PreflightError, match="Backend 'unsloth' needs a CUDA GPU"):
        pick_backend(spec(tmp_path, backend="unsloth"), "mps")


def test_the_manifest_records_the_device(tmp_path) -> None:
    import torch

    model = torch.nn.Linear(2, 2)
    assert ran_with(model, "trl", "mps", spec(tmp_path))["device"] == "mps"
