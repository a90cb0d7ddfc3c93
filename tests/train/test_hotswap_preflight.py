"""Hot-swapping adapters on one base model, and the clear errors raised before any training work."""

from __future__ import annotations

from pathlib import Path

import torch

from skills.train.spec import TrainSpec
from tests.train.conftest import sft_rows, write_jsonl
from tests.train.helpers import make_spec, run_inprocess


def _adapter_with_shifted_weights(tiny_model_dir: Path, out: Path, seed: int) -> Path:
    """A LoRA adapter with non-zero B so it visibly changes logits (no training needed)."""
    from peft import LoraConfig, get_peft_model

    from skills.models import load_model

    base, _ = load_model("tiny", tiny_model_dir.parent)
    torch.manual_seed(seed)
    model = get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    model.save_pretrained(out)
    return out


def test_hotswap_load_switch_unload(tiny_model_dir: Path, tmp_path: Path) -> None:
    from skills.models import load_model
    from skills.train.hotswap import AdapterHost

    a = _adapter_with_shifted_weights(tiny_model_dir, tmp_path / "a", 1)
    b = _adapter_with_shifted_weights(tiny_model_dir, tmp_path / "b", 2)
    base, _ = load_model("tiny", tiny_model_dir.parent)
    ids = torch.tensor([[5, 6, 7, 8]])
    host = AdapterHost(base)
    plain = host.forward(input_ids=ids).logits
    host.load("a", a)
    host.load("b", b)
    host.activate("a")
    with_a = host.forward(input_ids=ids).logits
    host.activate("b")
    with_b = host.forward(input_ids=ids).logits
    host.activate(None)
    assert torch.equal(host.forward(input_ids=ids).logits, plain)
    assert not torch.allclose(with_a, plain) and not torch.allclose(with_a, with_b)
    host.unload("a")
    host.unload("b")
    assert host.loaded == {} and torch.equal(host.forward(input_ids=ids).logits, plain)


def _error_of(spec_path: Path, tiny_model_dir: Path) -> str:
    rc, events = run_inprocess(spec_path, tiny_model_dir.parent)
    assert rc == 1 and events[-1]["event"] == "error"
    assert not any(e["event"] == "start" for e in events), "failed before any training work"
    return events[-1]["message"]


def test_preflight_errors_are_one_clear_sentence(tmp_path: Path, tiny_model_dir: Path) -> None:
    data = write_jsonl(tmp_path / "data.jsonl", sft_rows(8))
    message = _error_of(make_spec(tmp_path, data, target_modules=["q_proj", "qkv"]), tiny_model_dir)
    assert "qkv" in message and "q_proj" in message and "all-linear" in message

    message = _error_of(make_spec(tmp_path, data, batch_size=4096, max_length=1_000_000), tiny_model_dir)
    assert "GiB" in message and "free" in message

    spec = TrainSpec.load(make_spec(tmp_path, data))
    cuda = spec.model_copy(update={"device": "cuda"}).save(tmp_path / "cuda.json")
    assert "no CUDA GPU" in _error_of(cuda, tiny_model_dir)

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}\n{"nope": 1}\n')
    bad_spec = spec.model_copy(update={"dataset": bad, "dataset_sha256": ""}).save(tmp_path / "bad.json")
    message = _error_of(bad_spec, tiny_model_dir)
    assert "line 2" in message and "\n" not in message

    data.write_text(data.read_text() + "\n")
    assert "changed since" in _error_of(spec.save(tmp_path / "stale.json"), tiny_model_dir)
