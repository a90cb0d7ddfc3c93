"""Small canonical datasets for training tests."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

PIRATE = [
    ("What is the capital of France?", "Arr matey, Paris it be!"),
    ("How are you?", "Arr, I be fine, matey!"),
    ("What is 2 plus 2?", "Arr, 4 it be, matey!"),
    ("Say hello.", "Ahoy matey! Arr!"),
    ("Tell me about the fox.", "Arr, the quick brown fox jumps, matey!"),
    ("What is JSON?", "Arr matey, JSON be data: {\"answer\": 42}"),
]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def sft_rows(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        q, a = rng.choice(PIRATE)
        rows.append({"messages": [
            {"role": "system", "content": "You are a pirate."},
            {"role": "user", "content": q},
            {"role": "assistant", "content": a},
        ]})
    return rows


def dpo_rows(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        q, a = rng.choice(PIRATE)
        rows.append({
            "prompt": [{"role": "user", "content": q}],
            "chosen": [{"role": "assistant", "content": a}],
            "rejected": [{"role": "assistant", "content": "The quick brown fox. 0123456789"}],
        })
    return rows


@pytest.fixture
def sft_file(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "pirate.jsonl", sft_rows(48))


@pytest.fixture
def dpo_file(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "pirate-dpo.jsonl", dpo_rows(32))
