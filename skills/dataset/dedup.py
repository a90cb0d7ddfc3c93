"""Duplicate detection: exact (normalised text hash) and near duplicates (MinHash + LSH over word shingles)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import xxhash

NUM_PERM = 64
BANDS, ROWS_PER_BAND = 16, 4  # 16 bands x 4 rows: pairs with Jaccard >= ~0.7 collide with high probability
SHINGLE = 3
_rng = np.random.default_rng(20251125)
# h -> a*h + b (mod 2**64) with odd a is a bijection of uint64: one random permutation per (a, b).
_A = _rng.integers(0, 1 << 63, NUM_PERM, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
_B = _rng.integers(0, 1 << 63, NUM_PERM, dtype=np.uint64)
_WORD = re.compile(r"\w+")


def row_text(row: dict[str, Any], *, prompt_only: bool = False) -> str:
    """All message text of a canonical row, or only its prompt side (user/tool turns; a shared system prompt
    would make every row look alike). A document row (`text` format) is its text either way."""
    if "text" in row:
        return str(row["text"])
    parts: list[str] = []
    for key in ("prompt", "messages", "chosen", "rejected"):
        for msg in row.get(key) or []:
            if prompt_only and (key in ("chosen", "rejected") or msg.get("role") in ("assistant", "system")):
                continue
            parts.append(f"{msg.get('role')}:{msg.get('content') or ''}")
            parts.extend(tc["function"]["name"] + tc["function"]["arguments"] for tc in msg.get("tool_calls", []))
    return "\n".join(parts)


def normalise(text: str) -> str:
    """Lower case, words only: 'Hello,  World!' and 'hello world' count as the same."""
    return " ".join(_WORD.findall(text.lower()))


def exact_key(row: dict[str, Any], *, prompt_only: bool = False) -> int:
    """A 64-bit hash of the normalised row text; equal keys mean exact duplicates."""
    return xxhash.xxh64_intdigest(normalise(row_text(row, prompt_only=prompt_only)).encode())


def minhash(text: str) -> np.ndarray:
    """MinHash signature (NUM_PERM uint64) of the word-shingle set of a text."""
    words = normalise(text).split()
    shingles = {" ".join(words[i:i + SHINGLE]) for i in range(max(1, len(words) - SHINGLE + 1))}
    hashes = np.fromiter((xxhash.xxh64_intdigest(s.encode()) for s in shingles), dtype=np.uint64, count=len(shingles))
    with np.errstate(over="ignore"):
        return (np.outer(hashes, _A) + _B).min(axis=0)


def duplicate_groups(texts: Iterable[str], *, near: bool = True, threshold: float = 0.8) -> list[int]:
    """For each text, the index of the first text it duplicates (itself when unique)."""
    owner: list[int] = []
    exact: dict[int, int] = {}
    buckets: dict[tuple[int, bytes], list[int]] = {}
    signatures: list[np.ndarray] = []
    for i, text in enumerate(texts):
        key = xxhash.xxh64_intdigest(normalise(text).encode())
        first = exact.setdefault(key, i)
        sig = minhash(text) if near else None
        if near:
            signatures.append(sig)  # type: ignore[arg-type]
        if first == i and near:
            first = _near_match(i, sig, signatures, buckets, threshold)  # type: ignore[arg-type]
        owner.append(first if first == i else owner[first])
    return owner


def seen_in(reference: list[str], texts: list[str], *, near: bool = True) -> list[bool]:
    """For each of `texts`, whether it repeats one of `reference` (exact or near duplicate, the split's rule)."""
    owners = duplicate_groups([*reference, *texts], near=near)
    seen = set(owners[: len(reference)])
    return [owner in seen for owner in owners[len(reference):]]


def _near_match(i: int, sig: np.ndarray, sigs: list[np.ndarray], buckets: dict, threshold: float) -> int:
    """Index of an earlier near-duplicate sharing an LSH band with estimated Jaccard >= threshold, else i."""
    found = i
    for band in range(BANDS):
        key = (band, sig[band * ROWS_PER_BAND:(band + 1) * ROWS_PER_BAND].tobytes())
        candidates = buckets.setdefault(key, [])
        for j in candidates:
            if found == i and float(np.mean(sigs[j] == sig)) >= threshold:
                found = j
        candidates.append(i)
    return found


def exchange_text(row: dict[str, Any]) -> str:
    """A row's last user turn and the answer after it (a DPO row's: with its chosen answer), without the system
    prompt: what makes two rows the same lesson. Rows of one conversation carry earlier turns as context, and
    every persona row shares its card's prompt, so whole texts of different lessons would look alike. A document
    row (`text` format) is its text."""
    if "text" in row:
        return str(row["text"])
    turns = [m for key in ("prompt", "messages", "chosen") for m in row.get(key) or []
             if m.get("role") in ("user", "assistant")]
    users = [i for i, m in enumerate(turns) if m["role"] == "user"]
    tail = turns[users[-1]:] if users else turns
    return "\n".join(f"{m['role']}:{m.get('content') or ''}" for m in tail)


def conversation_text(row: dict[str, Any]) -> str:
    """A row's user and assistant turns, whole: for rows that are each their own conversation (synthetic ones),
    where two different conversations may well end on the same exchange ("thanks" - "you're welcome"). A document
    row (`text` format) is its text."""
    if "text" in row:
        return str(row["text"])
    turns = [m for key in ("prompt", "messages", "chosen") for m in row.get(key) or []
             if m.get("role") in ("user", "assistant")]
    return "\n".join(f"{m['role']}:{m.get('content') or ''}" for m in turns)


def unique_indexes(rows: list[dict[str, Any]], *, near: bool = True, threshold: float = 0.8,
                   key: Callable[[dict[str, Any]], str] = exchange_text) -> list[int]:
    """Indexes of the first row of each (near-)duplicate group, in order."""
    owners = duplicate_groups((key(r) for r in rows), near=near, threshold=threshold)
    return [i for i, owner in enumerate(owners) if owner == i]


def dedup_rows(rows: Iterable[dict[str, Any]], *, near: bool = True, threshold: float = 0.8,
               key: Callable[[dict[str, Any]], str] = exchange_text) -> tuple[list, int]:
    """Keep the first of each (near-)duplicate group (compared by `key`); returns (kept rows, removed count)."""
    rows = list(rows)
    kept = [rows[i] for i in unique_indexes(rows, near=near, threshold=threshold, key=key)]
    return kept, len(rows) - len(kept)
