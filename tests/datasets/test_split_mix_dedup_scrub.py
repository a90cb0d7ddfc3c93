"""split (deterministic, no duplicate leakage), mix (weights), dedup (exact + near) and the PII scrubber."""

from __future__ import annotations

from pathlib import Path

from skills.dataset.dedup import dedup_rows, duplicate_groups, row_text
from skills.dataset.io import iter_canonical, write_dataset
from skills.dataset.manifest import read_manifest
from skills.dataset.mix import mix_files, plan_counts
from skills.dataset.scrub import scrub_text
from skills.dataset.split import split_file
from tests.datasets.conftest import chat


def _prompts(path: str) -> set[str]:
    return {row_text(r, prompt_only=True) for r in iter_canonical(path)}


def test_split_is_deterministic_and_duplicates_stay_together(tmp_path: Path) -> None:
    rows = [chat(f"question number {i} about sailing ships and ropes", f"answer {i}") for i in range(40)]
    rows += [chat("question number 3 about sailing ships and ropes", "another answer")] * 5
    rows += [chat("Question number 7 about sailing ships and ropes!", "a near duplicate")]
    src = tmp_path / "d.jsonl"
    write_dataset(rows, src)
    first = split_file(src, tmp_path / "a", eval_ratio=0.25, seed=1)
    second = split_file(src, tmp_path / "b", eval_ratio=0.25, seed=1)
    assert first["train"]["sha256"] == second["train"]["sha256"]
    assert first["train"]["rows"] + first["eval"]["rows"] == 46 and first["eval"]["rows"] >= 11
    assert not _prompts(first["train"]["path"]) & _prompts(first["eval"]["path"])
    texts = [row_text(r, prompt_only=True).lower().replace("!", "") for r in iter_canonical(first["eval"]["path"])]
    train_texts = [row_text(r, prompt_only=True).lower().replace("!", "") for r in iter_canonical(first["train"]["path"])]
    assert not set(texts) & set(train_texts)  # the near duplicate went with its twin
    other = split_file(src, tmp_path / "c", eval_ratio=0.25, seed=2)
    assert other["eval"]["sha256"] != first["eval"]["sha256"]
    assert read_manifest(Path(first["eval"]["path"])).sources[0].note.startswith("split seed=1")


def test_a_grown_dataset_never_moves_a_trained_row_into_eval(tmp_path: Path) -> None:
    """The nightly retrain appends to the persona's dataset and splits it again: yesterday's training rows must
    not become today's eval rows (the served adapter learned them; the comparison would flatter it)."""
    rows = [chat(f"question number {i} about sailing ships and ropes", f"answer {i}") for i in range(20)]
    write_dataset(rows, tmp_path / "day1.jsonl")
    write_dataset(rows + [chat(f"new question {i} about knots and anchors", "arr") for i in range(15)],
                  tmp_path / "day2.jsonl")
    first = split_file(tmp_path / "day1.jsonl", tmp_path / "a", eval_ratio=0.2, seed=0)
    second = split_file(tmp_path / "day2.jsonl", tmp_path / "b", eval_ratio=4 / 35, seed=0)
    assert first["eval"]["rows"] == 4 and second["eval"]["rows"] == 4
    assert not _prompts(first["train"]["path"]) & _prompts(second["eval"]["path"])


def test_mix_plan_and_upsampling(tmp_path: Path) -> None:
    assert plan_counts([100, 10], [1, 1], None) == [10, 10]
    assert plan_counts([100, 100], [3, 1], 10) == [8, 2]
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    write_dataset([chat(f"a{i}") for i in range(10)], a)
    write_dataset([chat(f"b{i}") for i in range(2)], b)
    result = mix_files([(a, 1.0), (b, 1.0)], tmp_path / "m.jsonl", rows=8, seed=3)
    assert result["rows"] == 8 and result["upsampled"] == [str(b)]
    users = [r["messages"][0]["content"] for r in iter_canonical(tmp_path / "m.jsonl")]
    assert sum(u.startswith("b") for u in users) == 4


def test_dedup_exact_and_near() -> None:
    base = ("the quick brown fox jumps over the lazy dog near the river bank today while the old farmer "
            "watches from his porch and drinks a cup of strong black coffee with his two grey cats")
    texts = [base, base.upper(), base + " again", "something entirely different about cooking rice"]
    assert duplicate_groups(texts) == [0, 0, 0, 3]
    assert duplicate_groups(texts, near=False) == [0, 0, 2, 3]
    kept, removed = dedup_rows([chat(t) for t in texts])
    assert removed == 2 and len(kept) == 2


def test_scrub_finds_pii_and_secrets_without_echoing_them() -> None:
    token = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GaBcDe.abcdefghijklmnopqrstuvwxyz0123456"
    text = (f"mail jane.doe@example.org or call +44 20 7946 0958; key sk-proj-abcdefghijklmnopqrstuvwx1234; "
            f"token {token}; hf_abcdefghijklmnopqrstuvwxyzABCDEF; in 2024 version 1.2.3 costs 15.99")
    clean, findings = scrub_text(text)
    assert sorted(f.kind for f in findings) == ["api_key", "api_key", "discord_token", "email", "phone"]
    for secret in ("jane.doe", "7946", "sk-proj", token, "hf_abc"):
        assert secret not in clean and all(secret not in f.preview for f in findings)
    assert "2024" in clean and "1.2.3" in clean and "15.99" in clean
