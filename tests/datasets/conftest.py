"""Fixtures for the dataset tests: the LLaMA-Factory demo subsets and a small file writer."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

LF = Path(__file__).resolve().parent.parent / "data" / "llamafactory"


@pytest.fixture
def lf() -> Path:
    """Folder of the real third-party demo datasets."""
    return LF


@pytest.fixture
def write_jsonl(tmp_path: Path) -> Callable[..., Path]:
    """Write rows (dicts, or raw str/bytes lines) to a JSONL file under tmp_path."""

    def write(rows: list, name: str = "data.jsonl") -> Path:
        path = tmp_path / name
        data = b"".join(
            (r if isinstance(r, bytes) else (r if isinstance(r, str) else json.dumps(r)).encode()) + b"\n"
            for r in rows
        )
        path.write_bytes(data)
        return path

    return write


def chat(user: str = "hi", answer: str = "hello", system: str | None = None) -> dict:
    """A canonical single-turn row."""
    msgs = [{"role": "system", "content": system}] if system else []
    return {"messages": msgs + [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]}
