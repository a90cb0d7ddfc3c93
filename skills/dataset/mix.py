"""Weighted mixing of several datasets (DataMix-style): each source contributes a share of the output."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from config.errors import UsageError
from skills.dataset.dedup import unique_indexes
from skills.dataset.io import format_of, iter_canonical, write_dataset
from skills.dataset.manifest import Source, file_sha256


def parse_weighted(spec: str) -> tuple[Path, float]:
    """'data.jsonl:0.3' -> (data.jsonl, 0.3); a bare path weighs 1."""
    path, sep, weight = spec.rpartition(":")
    if not sep or not path:
        return Path(spec), 1.0
    try:
        value = float(weight)
    except ValueError:
        return Path(spec), 1.0  # a colon inside the path, not a weight
    if value <= 0:
        raise UsageError(f"The weight of {path} must be positive, not {weight}.")
    return Path(path), value


def plan_counts(sizes: list[int], weights: list[float], total: int | None) -> list[int]:
    """Rows to take from each source; without `total`, the largest mix that repeats no row."""
    shares = [w / sum(weights) for w in weights]
    if total is None:
        total = int(min(size / share for size, share in zip(sizes, shares, strict=True)))
    counts = [int(total * share) for share in shares]
    for i in sorted(range(len(counts)), key=lambda i: -shares[i])[: total - sum(counts)]:
        counts[i] += 1  # hand the rounding remainder to the heaviest sources
    return counts


def _take(rows: list[dict[str, Any]], count: int, rng: random.Random) -> list[dict[str, Any]]:
    """`count` rows: a sample without repeats, or whole copies plus a sample when upsampling."""
    whole, rest = divmod(count, len(rows))
    return rows * whole + rng.sample(rows, rest)


def mix_files(
    sources: list[tuple[Path, float]], out: str | Path, *, rows: int | None = None, seed: int = 0,
) -> dict[str, Any]:
    """Mix datasets by weight into one shuffled canonical JSONL with a manifest listing each share."""
    if len(sources) < 1:
        raise UsageError("Give at least one dataset to mix, e.g. a.jsonl:0.7 b.jsonl:0.3.")
    loaded, removed = _distinct([list(iter_canonical(path)) for path, _ in sources])
    for (path, _), data in zip(sources, loaded, strict=True):
        if not data:
            raise UsageError(f"{path} has no rows to mix (none left once rows repeating an earlier source's were "
                             "removed).")
    kinds = {format_of(data[0]) for data in loaded}
    if len(kinds) > 1:
        raise UsageError(f"Cannot mix different kinds of data ({', '.join(sorted(kinds))}); mix SFT with SFT, DPO with DPO.")
    counts = plan_counts([len(d) for d in loaded], [w for _, w in sources], rows)
    rng = random.Random(seed)
    mixed = [row for data, count in zip(loaded, counts, strict=True) for row in _take(data, count, rng)]
    rng.shuffle(mixed)
    manifest = write_dataset(mixed, out, fmt=kinds.pop(), sources=[
        Source(kind="file", path=str(p), sha256=file_sha256(p), weight=w, rows=c, note=f"mix seed={seed}")
        for (p, w), c in zip(sources, counts, strict=True)
    ], duplicates_removed=removed)
    upsampled = [str(p) for (p, _), d, c in zip(sources, loaded, counts, strict=True) if c > len(d)]
    return {"path": manifest.path, "rows": manifest.rows, "sha256": manifest.sha256, "seed": seed,
            "sources": [s.model_dump(exclude_none=True) for s in manifest.sources], "upsampled": upsampled,
            "duplicates_removed": removed}


def _distinct(loaded: list[list[dict[str, Any]]]) -> tuple[list[list[dict[str, Any]]], int]:
    """Each source without rows that repeat (exactly or nearly) an earlier row of it or of an earlier source.

    Done before sampling, so only upsampling (asked for with --rows) ever repeats a row on purpose."""
    flat = [(n, row) for n, data in enumerate(loaded) for row in data]
    keep = unique_indexes([row for _, row in flat])
    out: list[list[dict[str, Any]]] = [[] for _ in loaded]
    for i in keep:
        out[flat[i][0]].append(flat[i][1])
    return out, len(flat) - len(keep)
