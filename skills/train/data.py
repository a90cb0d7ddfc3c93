"""Training data: read canonical JSONL, check it before any work starts, split off a held-out set.

Rows are read with the datasets area's `iter_canonical` (same messages as `selftune dataset validate`).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Literal

from config.errors import NotFound, SelftuneError

Kind = Literal["sft", "dpo"]


class DatasetInvalid(SelftuneError):
    """The training data cannot be used as given."""


def _row_problem(row: Any, kind: Kind) -> str | None:
    if not isinstance(row, dict):
        return "is not a JSON object"
    if kind == "dpo":
        missing = [k for k in ("prompt", "chosen", "rejected") if k not in row]
        return f"lacks {', '.join(missing)}" if missing else None
    msgs = row.get("messages")
    if not isinstance(msgs, list) or not msgs:
        return "has no 'messages' list"
    if not any(isinstance(m, dict) and m.get("role") == "assistant" for m in msgs):
        return "has no assistant message to learn from"
    return None


def _canonical_rows(path: Path, kind: Kind) -> list[dict[str, Any]]:
    """Rows through the datasets area's reader (alpaca/sharegpt become messages)."""
    from skills.dataset.io import iter_canonical

    if not path.is_file():
        raise NotFound(f"Dataset {path} does not exist; check the spec's dataset path.")
    return list(iter_canonical(path, "dpo" if kind == "dpo" else "auto"))


def load_rows(path: Path, kind: Kind) -> list[dict[str, Any]]:
    """Validated rows for `kind` training; raises a one-sentence error naming the first bad line."""
    rows = _canonical_rows(path, kind)
    if not rows:
        raise DatasetInvalid(f"Dataset {path} is empty; add at least a few examples.")
    for number, row in enumerate(rows, 1):
        problem = _row_problem(row, kind)
        if problem:
            shape = "prompt/chosen/rejected" if kind == "dpo" else "{\"messages\": [...]}"
            raise DatasetInvalid(f"Dataset {path} row {number} {problem}; {kind.upper()} training needs {shape} rows.")
    return [_only_training_keys(row, kind) for row in rows]


def _only_training_keys(row: dict[str, Any], kind: Kind) -> dict[str, Any]:
    """Drop provenance/metadata columns: TRL would otherwise try to tokenize or collate them."""
    keys = ("prompt", "chosen", "rejected") if kind == "dpo" else ("messages",)
    out = {k: row[k] for k in keys}
    if kind == "sft":
        out["messages"] = [{"role": m["role"], "content": m.get("content") or ""} for m in out["messages"]]
    return out


def split_rows(rows: list[dict], share: float, seed: int) -> tuple[list[dict], list[dict]]:
    """Hold out `share` of rows (at least one when share > 0 and there are 2+ rows), seeded."""
    if share <= 0 or len(rows) < 2:
        return rows, []
    shuffled = rows[:]
    random.Random(seed).shuffle(shuffled)
    n_eval = max(1, round(len(rows) * share))
    return shuffled[n_eval:], shuffled[:n_eval]
