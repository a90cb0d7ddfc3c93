"""`dataset stats`: rows, turns, roles, duplicates and token lengths through a tokenizer's chat template."""

from __future__ import annotations

import statistics
from collections import Counter
from pathlib import Path
from typing import Any

from skills.dataset.dedup import duplicate_groups, row_text
from skills.dataset.io import format_of, iter_canonical


def _summary(values: list[int]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731 - nearest-rank quantile
    return {"min": ordered[0], "mean": round(statistics.fmean(ordered), 1), "p50": pick(0.5), "p95": pick(0.95),
            "max": ordered[-1], "total": sum(ordered)}


def _conversation(row: dict[str, Any]) -> list[dict[str, Any]]:
    """The messages a model trains on (DPO: prompt + chosen)."""
    return row["messages"] if "messages" in row else row["prompt"] + row["chosen"]


def dataset_stats(path: str | Path, *, fmt: str = "auto", tokenizer: Any = None, near: bool = True) -> dict[str, Any]:
    """Counts, turn and token-length summaries, and duplicates of a dataset file."""
    roles: Counter[str] = Counter()
    turns, chars, tokens, texts = [], [], [], []
    kind = None
    for row in iter_canonical(path, fmt):
        kind = kind or format_of(row)
        msgs = _conversation(row)
        roles.update(m["role"] for m in msgs)
        turns.append(sum(m["role"] in ("user", "assistant") for m in msgs))
        chars.append(sum(len(m["content"]) for m in msgs))
        texts.append(row_text(row))
        if tokenizer is not None:
            tokens.append(token_length(tokenizer, msgs, row.get("tools")))
    owners = duplicate_groups(texts, near=near) if texts else []
    exact = len(texts) - len({hash(t) for t in texts})
    return {
        "path": str(path), "format": kind, "rows": len(turns), "turns": _summary(turns), "chars": _summary(chars),
        "tokens": _summary(tokens) if tokenizer is not None else None, "roles": dict(roles),
        "duplicates": {"exact": exact, "near": sum(o != i for i, o in enumerate(owners)) - exact},
    }


def token_length(tokenizer: Any, msgs: list[dict[str, Any]], tools: list | None = None) -> int:
    """Tokens of one conversation rendered with the tokenizer's chat template."""
    ids = tokenizer.apply_chat_template(msgs, tools=tools, tokenize=True)
    if isinstance(ids, dict) or hasattr(ids, "keys"):
        ids = ids["input_ids"]
    return len(ids)


def load_tokenizer(base_model: str, models_dir: Path) -> Any:
    """The tokenizer (with chat template) of a base model name or folder."""
    from transformers import AutoTokenizer

    from skills.models import resolve_base_model

    return AutoTokenizer.from_pretrained(resolve_base_model(base_model, models_dir))
