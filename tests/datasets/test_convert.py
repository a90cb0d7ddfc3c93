"""convert: real LLaMA-Factory files round-trip; lossy conversions are refused unless allowed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skills.dataset.convert import LossyConversion, convert_file, from_canonical
from skills.dataset.formats import to_canonical
from skills.dataset.io import iter_canonical
from skills.dataset.manifest import read_manifest


def _rows(path: Path) -> list[dict]:
    return list(iter_canonical(path))


def test_alpaca_to_messages_to_sharegpt_to_messages_is_lossless(lf: Path, tmp_path: Path) -> None:
    src = lf / "alpaca_en_demo.json"
    messages = convert_file(src, tmp_path / "m.jsonl", "messages")
    sharegpt = convert_file(tmp_path / "m.jsonl", tmp_path / "s.jsonl", "sharegpt")
    back = convert_file(tmp_path / "s.jsonl", tmp_path / "m2.jsonl", "messages")
    assert messages["rows"] == sharegpt["rows"] == back["rows"] == 60
    assert _rows(tmp_path / "m2.jsonl") == _rows(tmp_path / "m.jsonl") == _rows(src)
    assert json.loads((tmp_path / "s.jsonl").read_text().splitlines()[0])["conversations"][0]["from"] == "human"
    assert messages["sha256"] == read_manifest(tmp_path / "m.jsonl").sha256


def test_messages_back_to_alpaca_keeps_the_text(lf: Path, tmp_path: Path) -> None:
    convert_file(lf / "identity.json", tmp_path / "m.jsonl", "messages")
    convert_file(tmp_path / "m.jsonl", tmp_path / "a.jsonl", "alpaca")
    assert _rows(tmp_path / "a.jsonl") == _rows(lf / "identity.json")


@pytest.mark.parametrize("name", ["glaive_toolcall_en_demo.json", "dpo_en_demo.json"])
def test_sharegpt_tools_and_dpo_round_trip(lf: Path, tmp_path: Path, name: str) -> None:
    convert_file(lf / name, tmp_path / "m.jsonl", "messages")
    convert_file(tmp_path / "m.jsonl", tmp_path / "s.jsonl", "sharegpt")
    assert _rows(tmp_path / "s.jsonl") == _rows(lf / name)


def test_lossy_conversion_is_refused_and_writes_nothing(lf: Path, tmp_path: Path) -> None:
    out = tmp_path / "a.jsonl"
    with pytest.raises(LossyConversion, match="--allow-lossy"):
        convert_file(lf / "glaive_toolcall_en_demo.json", out, "alpaca")
    assert not out.exists() and not list(tmp_path.iterdir())
    result = convert_file(lf / "glaive_toolcall_en_demo.json", out, "alpaca", allow_lossy=True)
    assert result["skipped"] == 17 and result["rows"] == 13  # rows without tools convert as they are


def test_convert_can_scrub_pii(write_jsonl, tmp_path: Path) -> None:
    src = write_jsonl([{"instruction": "mail bob@example.com", "output": "call +1 415 555 0100"}], "a.jsonl")
    result = convert_file(src, tmp_path / "m.jsonl", "messages", scrub=True)
    text = (tmp_path / "m.jsonl").read_text()
    assert "[EMAIL]" in text and "[PHONE]" in text and "example.com" not in text
    assert result["scrubbed"] == {"email": 1, "phone": 1}


texts = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20).filter(str.strip)
turns = st.lists(st.tuples(texts, texts), min_size=1, max_size=3)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pairs=turns, system=st.none() | texts)
def test_round_trip_property(pairs: list[tuple[str, str]], system: str | None) -> None:
    msgs = [{"role": "system", "content": system}] if system else []
    msgs += [m for q, a in pairs for m in ({"role": "user", "content": q}, {"role": "assistant", "content": a})]
    row = {"messages": msgs}
    assert to_canonical(row, "messages") == row
    for fmt in ("sharegpt", "alpaca"):
        out = json.loads(json.dumps(from_canonical(row, fmt)))
        assert to_canonical(out, fmt) == row
