"""Direct preference optimisation with TRL's DPOTrainer and a LoRA adapter.

Rows are {prompt, chosen, rejected} in TRL's conversational (message lists) or plain (strings) shape.
With PEFT the reference model is the same base with the adapter switched off: no second copy in memory.
"""

from __future__ import annotations

from typing import Any

from trl import DPOConfig, DPOTrainer

from skills.train.runtime import preference_trainer
from skills.train.spec import TrainSpec


def build_trainer(
    spec: TrainSpec, model: Any, tokenizer: Any, train: list[dict], held_out: list[dict],
    device: str, callbacks: list[Any], peft: bool = True,
) -> DPOTrainer:
    """A DPOTrainer over preference rows; the frozen base (adapter disabled) is the reference."""
    return preference_trainer(DPOTrainer, DPOConfig, spec, model, tokenizer, train, held_out, device, callbacks, peft)
