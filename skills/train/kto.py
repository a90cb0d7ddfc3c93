"""Kahneman-Tversky optimisation with TRL's KTOTrainer and a LoRA adapter.

KTO learns from unpaired 👍/👎: rows {prompt, completion, label}. It needs no second answer to the same
prompt, so every rated reply counts. As with DPO, the reference is the base with the adapter switched off.
"""

from __future__ import annotations

from typing import Any

from datasets import Dataset
from trl import KTOConfig, KTOTrainer

from skills.train.runtime import common_args, lora_config
from skills.train.spec import TrainSpec


def kto_config(spec: TrainSpec, device: str, has_eval: bool) -> KTOConfig:
    """KTOConfig from the spec (beta from the recipe; liked and disliked rows weigh the same)."""
    return KTOConfig(**common_args(spec, device, has_eval), beta=spec.hyper.beta, dataset_num_proc=None)


def build_trainer(
    spec: TrainSpec, model: Any, tokenizer: Any, train: list[dict], held_out: list[dict],
    device: str, callbacks: list[Any], peft: bool = True,
) -> KTOTrainer:
    """A KTOTrainer over labelled rows; the frozen base (adapter disabled) is the reference."""
    return KTOTrainer(
        model=model,
        ref_model=None,
        args=kto_config(spec, device, bool(held_out)),
        train_dataset=Dataset.from_list(train),
        eval_dataset=Dataset.from_list(held_out) if held_out else None,
        processing_class=tokenizer,
        peft_config=lora_config(spec) if peft else None,
        callbacks=callbacks,
    )
