"""Kahneman-Tversky optimisation with TRL's KTOTrainer and a LoRA adapter.

KTO learns from unpaired 👍/👎: rows {prompt, completion, label}. It needs no second answer to the same
prompt, so every rated reply counts. As with DPO, the reference is the base with the adapter switched off.

A KTO step runs four forwards (policy and policy on the mismatched KL pairs, reference on both) over batches TRL
pads to their longest row. Ours runs them on the real tokens only (`loss.pack_padded_rows`), and scores each
distinct batch with the frozen reference once per run instead of once per epoch: TRL's sampler is sequential
and its KL pairs are fixed when the data is prepared, so every epoch brings the same batches. Same loss as TRL's.
"""

from __future__ import annotations

import hashlib
from typing import Any

from trl import KTOConfig, KTOTrainer

from skills.train.loss import pack_padded_rows
from skills.train.runtime import preference_trainer
from skills.train.spec import TrainSpec

# What the reference's log-probabilities of a batch depend on (besides the frozen weights).
REFERENCE_INPUTS = ("input_ids", "attention_mask", "completion_mask", "KL_input_ids", "KL_attention_mask",
                    "KL_completion_mask")


class OnceReferenceKTOTrainer(KTOTrainer):
    """KTOTrainer whose reference scores each distinct batch once (TRL's `compute_ref_log_probs`), then reuses it.

    The first epoch costs what TRL's does (the same two no-grad forwards, moved before the loss); later epochs,
    and repeated evaluations of the held-out rows, skip them. TRL's own `precompute_ref_log_probs` does this
    before training instead, outside the measured run, and pays it even for one epoch.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reference_cache: dict[str, tuple[Any, Any]] = {}

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):  # noqa: ANN001, ANN201
        if self.precompute_ref_logps or "ref_logps" in inputs:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        key = _batch_key(inputs)
        if key not in self.reference_cache:
            reference = self.ref_model if self.ref_model is not None else self.model
            self.reference_cache[key] = self.compute_ref_log_probs(reference, inputs)
        ref_logps, ref_kl_logps = self.reference_cache[key]
        inputs = {**inputs, "ref_logps": ref_logps}
        if ref_kl_logps is not None:
            inputs["ref_KL_logps"] = ref_kl_logps
        self.precompute_ref_logps = True  # TRL's switch: read the reference from the batch
        try:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        finally:
            self.precompute_ref_logps = False


def _batch_key(inputs: dict[str, Any]) -> str:
    """A digest of the batch's token tensors (shape and contents)."""
    digest = hashlib.sha256()
    for name in REFERENCE_INPUTS:
        if name in inputs:
            tensor = inputs[name].detach().cpu()
            digest.update(f"{name}{tuple(tensor.shape)}".encode())
            digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()


def build_trainer(
    spec: TrainSpec, model: Any, tokenizer: Any, train: list[dict], held_out: list[dict],
    device: str, callbacks: list[Any], peft: bool = True,
) -> KTOTrainer:
    """A KTOTrainer over labelled rows; the frozen base (adapter disabled) is the reference."""
    trainer = preference_trainer(OnceReferenceKTOTrainer, KTOConfig, spec, model, tokenizer, train, held_out, device,
                                 callbacks, peft)
    unwrapped = trainer.model.get_base_model() if hasattr(trainer.model, "get_base_model") else trainer.model
    pack_padded_rows(unwrapped)  # the model TRL gave its fused head
    return trainer
