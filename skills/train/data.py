"""Training data: read canonical JSONL, check it before any work starts, split off a held-out set (as files).

Rows are read with the datasets area's `iter_canonical` (same messages as `selftune dataset validate`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from config.errors import NotFound, SelftuneError, UsageError

Kind = Literal["sft", "dpo", "kto"]
MIN_EVAL_ROWS = 4  # held out at least this many rows (up to half the data) when selftune makes the split
SHAPES = {"sft": '{"messages": [...]}', "dpo": "prompt/chosen/rejected", "kto": '{"messages": [...], "label": true|false}'}


def kind_of(method: str) -> Kind:
    """The row kind a training method reads."""
    return "dpo" if method == "dpo" else "kto" if method == "kto" else "sft"


class DatasetInvalid(SelftuneError):
    """The training data cannot be used as given."""


def _row_problem(row: Any, kind: Kind) -> str | None:
    if not isinstance(row, dict):
        return "is not a JSON object"
    if kind == "sft" and "text" in row and "messages" not in row:
        return None  # a plain-text document (continued pre-training); the reader checked it is non-empty text
    if kind == "dpo":
        missing = [k for k in ("prompt", "chosen", "rejected") if k not in row]
        return f"lacks {', '.join(missing)}" if missing else None
    if kind == "kto" and not isinstance(row.get("label"), bool):
        return "has no true/false 'label'"
    msgs = row.get("messages")
    if not isinstance(msgs, list) or not msgs:
        return "has no 'messages' list"
    if not any(isinstance(m, dict) and m.get("role") == "assistant" for m in msgs):
        return "has no assistant message to learn from"
    if kind == "kto" and not (isinstance(msgs[-1], dict) and msgs[-1].get("role") == "assistant"):
        return "does not end with the rated assistant answer"
    return None


def _canonical_rows(path: Path, kind: Kind) -> list[dict[str, Any]]:
    """Rows through the datasets area's reader (alpaca/sharegpt become messages)."""
    from skills.dataset.io import iter_canonical

    if not path.is_file():
        raise NotFound(f"Dataset {path} does not exist; check the spec's dataset path.")
    return list(iter_canonical(path, kind if kind in ("dpo", "kto") else "auto"))


def load_rows(path: Path, kind: Kind) -> list[dict[str, Any]]:
    """Validated rows for `kind` training; raises a one-sentence error naming the first bad line."""
    rows = _canonical_rows(path, kind)
    if not rows:
        raise DatasetInvalid(f"Dataset {path} is empty; add at least a few examples.")
    for number, row in enumerate(rows, 1):
        problem = _row_problem(row, kind)
        if problem:
            raise DatasetInvalid(f"Dataset {path} row {number} {problem}; {kind.upper()} training needs {SHAPES[kind]} rows.")
    return [_only_training_keys(row, kind) for row in rows]


def is_text_rows(rows: list[dict[str, Any]]) -> bool:
    """True when the rows are plain-text documents ({"text"}), trained on every token (continued pre-training)."""
    return bool(rows) and "text" in rows[0] and "messages" not in rows[0]


def _only_training_keys(row: dict[str, Any], kind: Kind) -> dict[str, Any]:
    """Drop provenance/metadata columns: TRL would otherwise try to tokenize or collate them."""
    if kind == "dpo":
        return {k: row[k] for k in ("prompt", "chosen", "rejected")}
    if "text" in row and "messages" not in row:
        return {"text": row["text"]}
    messages = [{"role": m["role"], "content": m.get("content") or ""} for m in row["messages"]]
    if kind == "kto":  # TRL's unpaired preference shape: the last answer is the rated completion
        return {"prompt": messages[:-1], "completion": messages[-1:], "label": row["label"]}
    return {"messages": messages}


def with_system_prompt(rows: list[dict[str, Any]], prompt: str) -> tuple[list[dict[str, Any]], int]:
    """Training rows (as load_rows returns them) with `prompt` as the first turn of each row that has no system
    turn: a persona is served under its card's prompt, so it must learn under it too. Returns (rows, added)."""
    out, added = [], 0
    for row in rows:
        key = "messages" if "messages" in row else "prompt"
        turns = row[key]
        if turns and turns[0].get("role") == "system":
            out.append(row)
            continue
        out.append({**row, key: [{"role": "system", "content": prompt}, *turns]})
        added += 1
    return out, added


@dataclass(frozen=True)
class DataFiles:
    """The files one job trains and evaluates on; `split` when selftune made them from the dataset."""

    train: Path
    eval: Path | None
    split: bool
    system_prompt_added: int = 0  # training rows given the persona card's system prompt (they had none)
    replay: dict[str, Any] | None = None  # general replay rows mixed into training (skills.train.replay)


def data_files(spec: Any, folder: Path) -> DataFiles:
    """The spec's eval file, else a deterministic split of the dataset written into `folder` before training.

    The split keeps exact and near duplicates (by prompt) on one side, so the held-out set is really unseen.
    """
    if spec.eval_dataset is not None:
        return DataFiles(Path(spec.dataset), Path(spec.eval_dataset), False)
    if spec.hyper.eval_split <= 0:
        return DataFiles(Path(spec.dataset), None, False)
    from skills.dataset.split import split_file

    with open(spec.dataset, "rb") as fh:
        rows = sum(1 for line in fh if line.strip())
    # One held-out row can never beat the gate's noise (a bootstrap needs items): small sets hold out a few more.
    ratio = min(0.5, max(spec.hyper.eval_split, MIN_EVAL_ROWS / max(rows, 1)))
    try:
        made = split_file(spec.dataset, folder, eval_ratio=ratio, seed=spec.seed)
    except UsageError:  # fewer than two distinct prompts: nothing can be held out honestly
        return DataFiles(Path(spec.dataset), None, False)
    if not made["eval"]["rows"] or not made["train"]["rows"]:  # every prompt is a duplicate of one group
        return DataFiles(Path(spec.dataset), None, False)
    return DataFiles(Path(made["train"]["path"]), Path(made["eval"]["path"]), True)
