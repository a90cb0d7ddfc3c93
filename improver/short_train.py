"""A short, fixed-budget LoRA/full training run on the served base model (or a set eval base), comparing recipes.

Both sides of a comparison get the same model, data, step budget and seed; only the recipe differs.
"""

from __future__ import annotations

from typing import Any

from improver.eval_config import EvalConfig


def _encode(tokenizer: Any, rows: list[dict], max_length: int) -> list[list[int]]:
    texts = [tokenizer.apply_chat_template(r["messages"], tokenize=False) for r in rows]
    return [tokenizer(t, truncation=True, max_length=max_length)["input_ids"] for t in texts]


def _batch(seqs: list[list[int]], pad_id: int) -> dict[str, Any]:
    import torch

    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    labels = torch.full((len(seqs), width), -100, dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s)
        labels[i, : len(s)] = torch.tensor(s)
    return {"input_ids": ids, "attention_mask": (labels != -100).long(), "labels": labels}


def _prepare(cfg: EvalConfig, recipe: Any, base_model: str) -> tuple[Any, Any]:
    from peft import LoraConfig, get_peft_model

    from skills.models import load_model

    model, tokenizer = load_model(base_model, cfg.models_dir)
    if recipe.method in ("lora", "qlora"):  # qlora's 4-bit part needs a GPU; its LoRA part is compared
        h = recipe.hyper
        lora = LoraConfig(r=h.rank, lora_alpha=h.alpha, lora_dropout=h.dropout, target_modules=h.target_modules,
                          task_type="CAUSAL_LM")
        model = get_peft_model(model, lora)
    return model, tokenizer


def heldout_losses(cfg: EvalConfig, recipe: Any, train_rows: list[dict], eval_rows: list[dict], seed: int,
                   base_model: str) -> list[float]:
    """Train cfg.train_steps steps on base_model with the recipe's hyperparameters, then each held-out row's loss."""
    import torch
    from transformers import get_scheduler

    torch.manual_seed(seed)
    model, tokenizer = _prepare(cfg, recipe, base_model)
    h = recipe.hyper
    train = _encode(tokenizer, train_rows, cfg.train_max_length)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=h.learning_rate)
    scheduler = get_scheduler(h.scheduler, optimizer, int(h.warmup_ratio * cfg.train_steps), cfg.train_steps)
    gen = torch.Generator().manual_seed(seed)
    batch_size = min(h.batch_size, 8)
    model.train()
    for _ in range(cfg.train_steps):
        pick = torch.randint(0, len(train), (batch_size,), generator=gen).tolist()
        loss = model(**_batch([train[i] for i in pick], tokenizer.pad_token_id)).loss
        loss.backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
    model.eval()
    with torch.no_grad():
        return [float(model(**_batch([s], tokenizer.pad_token_id)).loss)
                for s in _encode(tokenizer, eval_rows, cfg.train_max_length)]
