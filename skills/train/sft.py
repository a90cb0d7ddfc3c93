"""Supervised fine-tuning (lora | qlora | full) with TRL's SFTTrainer.

Speed on CPU comes from doing no wasted work: sequences are packed best-fit-decreasing into rows
without padding (position_ids mark the boundaries, so attention never crosses examples), loss is
computed on assistant tokens only without building the logits (skills/train/loss.py), gradient checkpointing
is on only when the pre-flight memory estimate says it is needed, and a LoRA base is held and computed in bf16
wherever the device has native bf16 math (CUDA; CPUs with AVX512-BF16 or AMX, where a bf16 matmul runs ~4x an
fp32 one), which also halves the frozen weights' memory (skills/train/runtime.py).
"""

from __future__ import annotations

from typing import Any

from datasets import Dataset
from trl import SFTConfig

from skills.train.data import is_text_rows
from skills.train.loss import LeanSFTTrainer
from skills.train.runtime import common_args, lora_config
from skills.train.spec import TrainSpec


def sft_config(spec: TrainSpec, device: str, has_eval: bool, documents: bool = False) -> SFTConfig:
    """SFTConfig from the spec: packing (bfd, padding-free) on CUDA or length-grouped batches, assistant-only loss.

    `documents`: plain-text rows ({"text"}, continued pre-training), where every token is a target.
    """
    h = spec.hyper
    # Padding-free packing pays off with varlen attention kernels (CUDA). On CPU, SDPA materializes the whole
    # packed row's attention mask per layer (GBs for SmolLM2), so there we batch conversations of similar
    # length instead: almost no padding, and no cross-conversation attention.
    pack = h.packing and device == "cuda"
    return SFTConfig(
        **common_args(spec, device, has_eval),
        packing=pack,
        packing_strategy="bfd",
        padding_free=pack,
        train_sampling_strategy="random" if pack else "group_by_length",
        assistant_only_loss=h.assistant_only_loss and not documents,
        dataset_text_field="text",
        dataset_num_proc=None,
    )


def build_trainer(
    spec: TrainSpec, model: Any, tokenizer: Any, train: list[dict], held_out: list[dict],
    device: str, callbacks: list[Any], peft: bool = True,
) -> LeanSFTTrainer:
    """An SFTTrainer (lean assistant-only loss) over `messages` or `text` rows; `peft=False` when adapters exist."""
    return LeanSFTTrainer(
        model=model,
        args=sft_config(spec, device, bool(held_out), documents=is_text_rows(train)),
        train_dataset=Dataset.from_list(train),
        eval_dataset=Dataset.from_list(held_out) if held_out else None,
        processing_class=tokenizer,
        peft_config=lora_config(spec) if peft else None,
        callbacks=callbacks,
    )
