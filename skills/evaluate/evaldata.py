"""Which data an adapter is measured on, and whether that data was seen in training.

The adapter's manifest records its train and eval files (path, sha256, rows); an evaluation uses the recorded
eval file, checks it against the recorded train file for exact and near duplicates (by prompt, the same rule
the split uses), and also measures the persona's evaluator-only set under holdout/ when it exists.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from config.errors import NotFound

EXAMPLES = 3  # overlapping prompts quoted in the report


def file_record(path: Path) -> dict[str, Any]:
    """path, sha256 and non-empty line count of a data file."""
    digest, rows = hashlib.sha256(), 0
    with open(path, "rb") as fh:
        for line in fh:
            digest.update(line)
            rows += bool(line.strip())
    return {"path": str(path), "sha256": digest.hexdigest(), "rows": rows}


def _recorded(manifest: dict[str, Any], key: str) -> Path | None:
    entry = manifest.get(key)
    path = entry.get("path") if isinstance(entry, dict) else entry
    return Path(path) if path and Path(path).is_file() else None


def _saved_spec(adapter_dir: Path) -> dict[str, Any]:
    path = adapter_dir / "train_spec.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def train_file_of(adapter_dir: Path, manifest: dict[str, Any]) -> Path | None:
    """The training file recorded for an adapter (its train split, else its dataset), if it is still there."""
    spec = _saved_spec(adapter_dir)
    return _recorded(manifest, "train_dataset") or _recorded(manifest, "dataset") or _recorded(spec, "dataset")


def eval_and_train_files(adapter_dir: Path, manifest: dict[str, Any], data: Path | None) -> tuple[Path, Path | None, str]:
    """(eval file, train file, where the eval file came from): --data, else the manifest's recorded split.

    An adapter without a recorded eval file falls back to its training data; the overlap check then says so.
    """
    spec = _saved_spec(adapter_dir)
    train = train_file_of(adapter_dir, manifest)
    if data is not None:
        return data, train, "--data"
    recorded = _recorded(manifest, "eval_dataset") or _recorded(spec, "eval_dataset")
    if recorded is not None:
        return recorded, train, "recorded eval split"
    if train is not None:
        return train, train, "training data (no eval split was recorded)"
    raise NotFound(f"No eval data is recorded for adapter {adapter_dir}; pass one with --data PATH (messages JSONL).")


def _prompts(path: Path) -> list[str]:
    from skills.dataset.dedup import row_text
    from skills.dataset.io import iter_canonical

    return [row_text(row, prompt_only=True) for row in iter_canonical(path)]


def overlap(eval_file: Path, train_file: Path | None) -> dict[str, Any]:
    """How many eval rows repeat a training row's prompt (exact or near duplicate), with a few examples."""
    if train_file is None:
        return {"rows": 0, "of": None, "train_file": None, "examples": [], "checked": False}
    from skills.dataset.dedup import seen_in

    held = _prompts(eval_file)
    hits = [i for i, seen in enumerate(seen_in(_prompts(train_file), held)) if seen]
    return {"rows": len(hits), "of": len(held), "train_file": str(train_file), "checked": True,
            "examples": [held[i][:120] for i in hits[:EXAMPLES]]}


def unseen_by(rows: list[list[dict[str, Any]]], train_file: Path | None) -> tuple[list[list[dict[str, Any]]], dict[str, Any]]:
    """The eval rows (messages) whose prompt is not in `train_file`, and a record of the ones left out.

    Used for the adapter a candidate is compared against: an eval row the served adapter trained on would
    flatter the served side, so the comparison runs only on rows neither side has seen.
    """
    record: dict[str, Any] = {"rows": 0, "of": len(rows), "train_file": str(train_file) if train_file else None,
                              "checked": train_file is not None, "examples": []}
    if train_file is None or not rows:
        return rows, record
    from skills.dataset.dedup import row_text, seen_in

    prompts = [row_text({"messages": r}, prompt_only=True) for r in rows]
    flags = seen_in(_prompts(train_file), prompts)
    left = [p for p, seen in zip(prompts, flags, strict=True) if seen]
    record.update(rows=len(left), examples=[p[:120] for p in left[:EXAMPLES]])
    return [r for r, seen in zip(rows, flags, strict=True) if not seen], record


def holdout_file(holdout_dir: Path, persona: str | None) -> Path | None:
    """The persona's evaluator-only chat rows, never given to training, when they exist: the improver's
    `holdout/adapters/<persona>.jsonl`, else the older `holdout/<persona>.jsonl`."""
    if not persona:
        return None
    for path in (holdout_dir / "adapters" / f"{persona}.jsonl", holdout_dir / f"{persona}.jsonl"):
        if path.is_file():
            return path
    return None


def describe(eval_file: Path, train_file: Path | None, source: str) -> dict[str, Any]:
    """The report's eval-data section: both files with sha256 and rows, where the eval file came from, overlap."""
    return {"source": source, "eval": file_record(eval_file),
            "train": file_record(train_file) if train_file is not None else None,
            "overlap": overlap(eval_file, train_file)}
