"""Our KTO trainer computes the same loss as plain `trl.KTOTrainer` on the same rows and adapter weights.

Ours runs KTO's forwards on the real tokens only (rows packed, no padding): the batch below is padded, so the pin
fails if packing changed the numbers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from skills.train.spec import TrainSpec
from tests.train.conftest import write_jsonl
from tests.train.helpers import make_spec
from tests.train.test_kto import kto_rows


def _perturb_lora(model: Any) -> None:
    """Same nonzero LoRA B weights on both sides (fresh B is zero: policy == reference, every loss exactly 0.5)."""
    import torch

    for index, (name, param) in enumerate(sorted(model.named_parameters(), key=lambda item: item[0])):
        if "lora_B" in name:
            generator = torch.Generator().manual_seed(index)
            param.data = torch.randn(param.shape, generator=generator, dtype=param.dtype) * 0.05


def _first_batch_loss(trainer: Any) -> float:
    """KTO loss of the trainer's first training batch (sequential sampler: the same rows on both sides)."""
    import torch

    trainer.model.train()
    batch = next(iter(trainer.get_train_dataloader()))
    assert not batch["attention_mask"].all() and not batch["KL_attention_mask"].all()  # padding to drop
    with torch.no_grad():
        return float(trainer.compute_loss(trainer.model, batch))


def _ours(spec: TrainSpec, model_dir: Path, rows: list[dict]) -> float:
    from skills.train import kto, runtime

    model, tokenizer = runtime.load_base(spec, model_dir, "cpu")
    trainer = kto.build_trainer(spec, model, tokenizer, rows, [], "cpu", [])
    assert trainer.model.get_base_model().forward.selftune_packed
    _perturb_lora(trainer.model)
    return _first_batch_loss(trainer)


def _plain_trl(spec: TrainSpec, model_dir: Path, rows: list[dict], monkeypatch: pytest.MonkeyPatch) -> float:
    """TRL's KTOTrainer as its docs show, with TRL's own choice of scored positions restored."""
    import torch
    import trl.trainer.utils as trl_utils
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import KTOConfig, KTOTrainer
    from trl.kernels.chunked_logprob import _use_triton

    monkeypatch.setattr(trl_utils, "_use_triton", _use_triton)
    h = spec.hyper
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    tokenizer.pad_token = tokenizer.pad_token or tokenizer.eos_token
    args = KTOConfig(output_dir=str(spec.checkpoints / "plain"), per_device_train_batch_size=h.batch_size,
                     max_length=h.max_length, use_cpu=True, bf16=False, report_to=[], beta=h.beta, seed=spec.seed)
    peft = LoraConfig(r=h.rank, lora_alpha=h.alpha, lora_dropout=0.0, target_modules=h.target_modules,
                      bias="none", task_type="CAUSAL_LM")
    trainer = KTOTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer,
                         peft_config=peft)
    _perturb_lora(trainer.model)
    return _first_batch_loss(trainer)


def test_our_kto_loss_matches_plain_trl(tmp_path: Path, tiny_model_dir: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from skills.train.data import load_rows

    data = write_jsonl(tmp_path / "kto.jsonl", kto_rows(8))
    spec = TrainSpec.load(make_spec(tmp_path, data, method="kto", dropout=0.0, bf16=False, eval_split=0.0))
    rows = load_rows(data, "kto")
    ours = _ours(spec, tiny_model_dir, rows)
    plain = _plain_trl(spec, tiny_model_dir, rows, monkeypatch)
    assert ours != pytest.approx(0.5, abs=1e-4)  # the perturbed adapter moves the loss off its starting value
    assert ours == pytest.approx(plain, rel=1e-4, abs=1e-5)


def test_the_reference_scores_each_batch_once_across_epochs(tmp_path: Path, tiny_model_dir: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Three epochs over two batches: two reference passes, not six; a cached batch gives the same loss."""
    from skills.train import kto, runtime
    from skills.train.data import load_rows

    data = write_jsonl(tmp_path / "kto.jsonl", kto_rows(8))
    spec = TrainSpec.load(make_spec(tmp_path, data, method="kto", dropout=0.0, bf16=False, eval_split=0.0,
                                    max_steps=6, save_steps=100))
    model, tokenizer = runtime.load_base(spec, tiny_model_dir, "cpu")
    trainer = kto.build_trainer(spec, model, tokenizer, load_rows(data, "kto"), [], "cpu", [])
    calls = []
    score = trainer.compute_ref_log_probs
    monkeypatch.setattr(trainer, "compute_ref_log_probs", lambda *a: calls.append(1) or score(*a))
    _perturb_lora(trainer.model)
    first, again = _first_batch_loss(trainer), _first_batch_loss(trainer)
    assert len(calls) == 1 and first == again
    trainer.reference_cache.clear()
    trainer.train()
    assert trainer.state.global_step == 6 and len(calls) == 1 + 2
