"""Direct preference optimisation with TRL's DPOTrainer and a LoRA adapter.

Rows are {prompt, chosen, rejected} in TRL's conversational (message lists) or plain (strings) shape.
With PEFT the reference model is the same base with the adapter switched off: no second copy in memory.
"""

from __future__ import annotations

from typing import Any

from datasets import Dataset
from trl import DPOConfig, DPOTrainer

from skills.train.runtime import common_args, lora_config
from skills.train.spec import TrainSpec


def dpo_config(spec: TrainSpec, device: str, has_eval: bool) -> DPOConfig:
    """DPOConfig from the spec (beta from the recipe)."""
    return DPOConfig(**common_args(spec, device, has_eval), beta=spec.hyper.beta, dataset_num_proc=None)


def build_trainer(
    spec: TrainSpec, model: Any, tokenizer: Any, train: list[dict], held_out: list[dict],
    device: str, callbacks: list[Any], peft: bool = True,
) -> DPOTrainer:
    """A DPOTrainer over preference rows; the frozen base (adapter disabled) is the reference."""
    return DPOTrainer(
        model=model,
        ref_model=None,
        args=dpo_config(spec, device, bool(held_out)),
        train_dataset=Dataset.from_list(train),
        eval_dataset=Dataset.from_list(held_out) if held_out else None,
        processing_class=tokenizer,
        peft_config=lora_config(spec) if peft else None,
        callbacks=callbacks,
    )
