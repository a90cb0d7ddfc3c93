"""Kahneman-Tversky optimisation with TRL's KTOTrainer and a LoRA adapter.

KTO learns from unpaired 👍/👎: rows {prompt, completion, label}. It needs no second answer to the same
prompt, so every rated reply counts. As with DPO, the reference is the base with the adapter switched off.
"""

from __future__ import annotations

from typing import Any

from trl import KTOConfig, KTOTrainer

from skills.train.runtime import preference_trainer
from skills.train.spec import TrainSpec


def build_trainer(
    spec: TrainSpec, model: Any, tokenizer: Any, train: list[dict], held_out: list[dict],
    device: str, callbacks: list[Any], peft: bool = True,
) -> KTOTrainer:
    """A KTOTrainer over labelled rows; the frozen base (adapter disabled) is the reference."""
    return preference_trainer(KTOTrainer, KTOConfig, spec, model, tokenizer, train, held_out, device, callbacks, peft)
