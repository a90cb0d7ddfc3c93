"""Held-out loss and perplexity on assistant tokens, per item, so the gate can bootstrap over items."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from config.errors import SelftuneError

Messages = list[dict[str, Any]]


def _as_messages(row: dict) -> Any:
    """A messages row as it is; a preference row as its liked answer (held-out loss of what users preferred)."""
    if isinstance(row.get("prompt"), list) and isinstance(row.get("chosen"), list):
        return row["prompt"] + row["chosen"]
    return None if row.get("label") is False else row.get("messages")


def read_rows(path: Path, limit: int | None = None) -> list[Messages]:
    """Read canonical `{"messages": [...]}` rows (JSONL or a JSON array); skip rows without an assistant turn."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SelftuneError(f"Cannot read eval data {path}: {exc.strerror}; check the path.") from None
    try:
        raw = json.loads(text) if text.lstrip().startswith("[") else [json.loads(x) for x in text.splitlines() if x.strip()]
    except json.JSONDecodeError as exc:
        raise SelftuneError(f"Eval data {path} is not valid JSON/JSONL ({exc}); run `selftune dataset validate`.") from None
    rows = [m for m in (_as_messages(r) for r in raw if isinstance(r, dict)) if _has_assistant(m)]
    if not rows:
        raise SelftuneError(f"Eval data {path} has no rows with an assistant answer in the messages format.")
    return rows[:limit] if limit else rows


def _has_assistant(messages: Any) -> bool:
    return isinstance(messages, list) and any(m.get("role") == "assistant" for m in messages if isinstance(m, dict))


def _encode(tokenizer: Any, messages: Messages, max_length: int) -> tuple[list[int], list[int]]:
    """Token ids and labels (-100 outside assistant tokens), truncated to max_length."""
    enc = tokenizer.apply_chat_template(
        messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    ids = list(enc["input_ids"])[:max_length]
    mask = list(enc["assistant_masks"])[:max_length]
    labels = [tok if keep else -100 for tok, keep in zip(ids, mask, strict=True)]
    return ids, labels


def item_losses(model: Any, tokenizer: Any, rows: list[Messages], *, batch_size: int = 8, max_length: int = 512) -> list[float]:
    """Mean token cross-entropy of each row's assistant tokens under the model as it is now."""
    import torch

    encoded = [_encode(tokenizer, row, max_length) for row in rows]
    losses: list[float] = []
    for start in range(0, len(encoded), batch_size):
        losses.extend(_batch_losses(model, encoded[start:start + batch_size], tokenizer.pad_token_id or 0, torch))
    return losses


def _batch_losses(model: Any, batch: list[tuple[list[int], list[int]]], pad_id: int, torch: Any) -> list[float]:
    width = max(len(ids) for ids, _ in batch)
    ids = torch.tensor([i + [pad_id] * (width - len(i)) for i, _ in batch])
    labels = torch.tensor([lab + [-100] * (width - len(lab)) for _, lab in batch])
    attention = torch.tensor([[1] * len(i) + [0] * (width - len(i)) for i, _ in batch])
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=attention).logits[:, :-1].float()
    target = labels[:, 1:]
    token_loss = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.size(-1)), target.reshape(-1), ignore_index=-100, reduction="none"
    ).view(target.shape)
    counts = (target != -100).sum(dim=1).clamp(min=1)
    return (token_loss.sum(dim=1) / counts).tolist()


def summarize(losses: list[float]) -> dict[str, float]:
    """Mean loss and its perplexity."""
    mean = sum(losses) / len(losses)
    return {"loss": round(mean, 6), "perplexity": round(math.exp(min(mean, 50.0)), 4)}
