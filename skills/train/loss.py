"""Causal-LM loss on assistant tokens only, without the (batch, seq, vocab) logits.

The memory and time of a small model's step go to its output head: SmolLM2's 49k-token vocabulary over every
position is ~200 KB of fp32 logits per token, kept for backward, plus the softmax. TRL's fused head already tiles
the projection, but on CPU it scores every position (prompt and padding too) and also computes entropy and top-1
accuracy for its logs. Here only positions whose next token is a label are projected, in vocabulary tiles by
TRL's kept `ChunkedLogProbFunction` (the backward recomputes each tile), and nothing else is computed.
"""

from __future__ import annotations

from typing import Any

import torch
from trl import SFTTrainer
from trl.kernels import ChunkedLogProbFunction

IGNORE = -100
VOCAB_TILE = 8192  # columns of the output head per tile: ~tokens x 32 KB of fp32 live at once


def decoder_parts(model: Any) -> tuple[Any, Any] | None:
    """(backbone, output head) of a plain causal LM (PEFT-wrapped or not); None when the head rescales logits."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = base.config.get_text_config()
    # Softcapping/scaling heads (Gemma 2, Granite, ...) keep TRL's own path, which knows their transforms.
    if any(getattr(config, key, None) is not None for key in
           ("final_logit_softcapping", "logit_scale", "output_multiplier", "lm_head_multiplier", "logits_scaling")):
        return None
    head = base.get_output_embeddings()
    backbone = getattr(base, "base_model", None)
    if head is None or backbone is None or backbone is base:
        return None
    return backbone, head


def label_hidden_states(backbone: Any, inputs: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """(hidden states, next-token labels) of the positions that carry a label, gathered into flat tensors."""
    kwargs = {k: v for k, v in inputs.items() if k not in ("labels", "num_items_in_batch")}
    kwargs["use_cache"] = False
    hidden = backbone(**kwargs).last_hidden_state[:, :-1]
    labels = inputs["labels"][:, 1:].to(hidden.device)
    mask = labels != IGNORE
    return hidden[mask], labels[mask]


def chunked_nll_sum(hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                    targets: torch.Tensor, vocab_tile: int = VOCAB_TILE) -> torch.Tensor:
    """Sum of -log p(target) over rows of `hidden @ weight.T (+ bias)`, never holding more than one vocab tile."""
    if targets.numel() == 0:
        return hidden.sum() * 0.0  # stays connected to the graph: backward of an all-prompt batch is a zero
    log_probs = ChunkedLogProbFunction.apply(hidden, weight, bias, targets, 1.0, vocab_tile, None, 1.0, ())[0]
    return -log_probs.sum()


def assistant_loss(model: Any, inputs: dict[str, Any], num_items_in_batch: Any = None) -> torch.Tensor:
    """Mean next-token loss over labelled (assistant) positions, like the model's own loss, computed lean."""
    parts = decoder_parts(model)
    if parts is None:
        raise ValueError("assistant_loss needs a plain causal LM head")
    backbone, head = parts
    hidden, targets = label_hidden_states(backbone, inputs)
    total = chunked_nll_sum(hidden.to(head.weight.dtype), head.weight, head.bias, targets)
    count = targets.numel() if num_items_in_batch is None else num_items_in_batch
    return total / torch.as_tensor(count, device=total.device).clamp(min=1)


def score_labelled_positions_only() -> bool:
    """Make TRL's fused LM head (DPO, KTO, SFT fallbacks) project only labelled positions on CPU too; True if applied.

    TRL compacts to labelled positions only on Triton devices: elsewhere a compiled backend (Neuron) would recompile
    for every new count of positions, so it scores prompts and padding as well. Eager CPU never recompiles, and
    a DPO batch is mostly prompt and padding, so the compact path is the same numbers for a fraction of the work.
    """
    import trl.trainer.utils as trl_utils

    decide = getattr(trl_utils, "_use_triton", None)  # consulted only for that compact/full choice
    if decide is None or getattr(decide, "selftune_compact", False):
        return decide is not None

    def compact(device: torch.device) -> bool:
        return device.type == "cpu" or decide(device)

    compact.selftune_compact = True  # type: ignore[attr-defined]
    trl_utils._use_triton = compact
    return True


class LeanSFTTrainer(SFTTrainer):
    """SFTTrainer whose loss scores assistant tokens only (no logits, no entropy/accuracy side metrics)."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):  # noqa: ANN001, ANN201
        plain = (not return_outputs and self.compute_loss_func is None and self.label_smoother is None
                 and not self.aux_loss_enabled and self.args.loss_type == "nll" and "labels" in inputs)
        if not plain or decoder_parts(model) is None:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        loss = assistant_loss(model, inputs, num_items_in_batch)
        if self.args.average_tokens_across_devices and num_items_in_batch is not None:
            loss = loss * self.accelerator.num_processes  # as TRL does: DDP averages the gradients again
        self._count_tokens(inputs)
        return loss

    def _count_tokens(self, inputs: dict[str, Any]) -> None:
        """TRL's `num_tokens` log (non-padding tokens seen), which progress events and the benchmark read."""
        mode = "train" if self.model.training else "eval"
        if mode == "train":
            if "attention_mask" in inputs:
                seen = inputs["attention_mask"].sum()
            else:
                seen = torch.tensor(inputs["input_ids"].numel(), device=inputs["input_ids"].device)
            self._total_train_tokens += int(self.accelerator.gather_for_metrics(seen).sum().item())
        self._metrics[mode]["num_tokens"] = [self._total_train_tokens]


def pack_padded_rows(model: Any) -> bool:
    """Run TRL's fused-head forwards (DPO/KTO scoring) on the batch's real tokens only; True if applied.

    TRL's preference collators pad every row to the batch's longest, and a KTO step runs four forwards (policy,
    KL, and the reference's two) over such batches: with answers of very different lengths half the computed
    tokens are padding. Right-padded rows are packed into one row with per-row `position_ids`, which transformers
    turns into a block-diagonal causal mask, and the per-token outputs are scattered back into the padded shape.
    Each real token sees exactly what it saw before (right padding is never attended), so the numbers are the same
    up to float rounding: only the padding's work is dropped. `model` is the one `add_fused_lm_head` patched.
    """
    if getattr(model.forward, "selftune_packed", False):
        return True
    if "unsloth" in getattr(type(model).forward, "__module__", ""):
        return False  # Unsloth's own forward has its own padding handling; leave it alone
    fused = model.forward

    def forward(*args: Any, fused_lm_head: bool = False, input_ids: Any = None, attention_mask: Any = None,
                labels: Any = None, **kwargs: Any) -> Any:
        plain = (args or not fused_lm_head or input_ids is None or attention_mask is None or labels is None
                 or any(kwargs.get(k) is not None for k in ("inputs_embeds", "position_ids", "shift_labels")))
        keep = None if plain else _right_padded(attention_mask)
        if keep is None:
            return fused(*args, fused_lm_head=fused_lm_head, input_ids=input_ids, attention_mask=attention_mask,
                         labels=labels, **kwargs)
        rows, width = keep.shape
        positions = torch.arange(width, device=keep.device).expand(rows, width)
        shift = torch.full_like(labels, IGNORE)
        shift[:, :-1] = labels[:, 1:]  # the next token's label, so a row's last token never predicts the next row
        out = fused(input_ids=input_ids[keep][None], position_ids=positions[keep][None], shift_labels=shift[keep][None],
                    fused_lm_head=True, **kwargs)

        def unpack(x: Any) -> Any:  # (1, real tokens) -> (rows, width - 1), zero where TRL's own forward has zeros
            return None if x is None else x.new_zeros(keep.shape).masked_scatter(keep, x[0])[:, :-1]

        for name in ("log_probs", "entropy", "log_sum_sq_probs", "mean_logits", "is_top1", "label_mask"):
            if getattr(out, name, None) is not None:
                setattr(out, name, unpack(getattr(out, name)))
        return out

    forward.selftune_packed = True  # type: ignore[attr-defined]
    model.forward = forward
    return True


def _right_padded(attention_mask: torch.Tensor) -> torch.Tensor | None:
    """The boolean mask of real tokens when every row is real tokens then padding and some row is padded, else None."""
    keep = attention_mask.bool()
    if keep.dim() != 2 or bool(keep.all()):
        return None
    lengths = keep.sum(1, keepdim=True)
    prefix = torch.arange(keep.size(1), device=keep.device)[None] < lengths
    return keep if bool((prefix == keep).all()) else None
