"""Deterministic train/eval split where rows with the same (or nearly the same) prompt stay on one side."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from config.errors import UsageError
from skills.dataset.dedup import duplicate_groups, normalise, row_text
from skills.dataset.io import format_of, iter_canonical, write_dataset
from skills.dataset.manifest import Source, file_sha256
from skills.dataset.provenance import row_message_ids


def split_file(
    path: str | Path, out_dir: str | Path | None = None, *, eval_ratio: float = 0.1, seed: int = 0,
    fmt: str = "auto", near: bool = True,
) -> dict[str, Any]:
    """Split a dataset into <stem>.train.jsonl and <stem>.eval.jsonl; same seed, same split."""
    path = Path(path)
    if not 0 < eval_ratio < 1:
        raise UsageError(f"--eval-ratio must be between 0 and 1, not {eval_ratio}.")
    prompts = [row_text(r, prompt_only=True) for r in iter_canonical(path, fmt)]
    owners = duplicate_groups(prompts, near=near)
    if len(owners) < 2:
        raise UsageError(f"{path} has {len(owners)} row(s); a split needs at least 2.")
    eval_groups = _pick_eval_groups(owners, prompts, eval_ratio, seed)
    in_eval = [owner in eval_groups for owner in owners]
    out = Path(out_dir) if out_dir else path.parent
    source = Source(kind="file", path=str(path), sha256=file_sha256(path), note=f"split seed={seed} eval_ratio={eval_ratio}")
    kind = format_of(next(iter_canonical(path, fmt)))
    ids = row_message_ids(path) or [[] for _ in owners]  # each side keeps its rows' message ids (forgetting)
    written = {}
    for name, want in (("train", False), ("eval", True)):
        rows = (r for r, flag in zip(iter_canonical(path, fmt), in_eval, strict=True) if flag is want)
        side_ids = [row for row, flag in zip(ids, in_eval, strict=False) if flag is want]
        manifest = write_dataset(rows, out / f"{_stem(path)}.{name}.jsonl", fmt=kind, sources=[source],
                                 row_messages=side_ids)
        written[name] = {"path": manifest.path, "rows": manifest.rows, "sha256": manifest.sha256}
    return {"source": str(path), "seed": seed, "eval_ratio": eval_ratio,
            "groups": len(set(owners)), **written}


def _pick_eval_groups(owners: list[int], prompts: list[str], ratio: float, seed: int) -> set[int]:
    """Take whole duplicate groups, in the order of a seeded hash of their prompt, until the eval share is reached.

    A group's place depends on its own text only, so a dataset that grows (the nightly retrain appends to the
    persona's dataset) keeps its eval groups out of training: a row the last adapter trained on does not turn
    up in the next one's eval split, where it would flatter the adapter the candidate is compared against.
    """
    sizes: dict[int, int] = {}
    for owner in owners:
        sizes[owner] = sizes.get(owner, 0) + 1
    groups = sorted(sizes, key=lambda g: hashlib.sha256(f"{seed}:{normalise(prompts[g])}".encode()).hexdigest())
    target = max(1, round(len(owners) * ratio))
    chosen: set[int] = set()
    taken = 0
    for group in groups:
        if taken >= target:
            break
        if len(chosen) + 1 < len(groups):  # keep at least one group for training
            chosen.add(group)
            taken += sizes[group]
    return chosen


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".jsonl", ".json"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name
