"""Synthetic data against a scripted OpenAI-compatible server on 127.0.0.1 (exact outputs, resume, budget)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli.main import app
from config.settings import Settings
from skills.dataset.io import iter_canonical
from skills.dataset.manifest import read_manifest
from skills.dataset.synth import SEEDS, load_seeds, run_synth
from skills.dataset.validate import validate_file
from tests.datasets.scripted import Scripted, scripted_server, scripted_settings


@pytest.fixture
def server() -> Iterator[str]:
    with scripted_server() as url:
        yield url


@pytest.fixture
def llm_settings(settings: Settings, server: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    return scripted_settings(settings, server, monkeypatch)


def test_packaged_seed_prompts() -> None:
    seeds = load_seeds(SEEDS)
    assert 25 <= len(seeds) <= 40 and len(set(seeds)) == len(seeds)


def test_persona_rows_and_manifest(llm_settings: Settings, tmp_path: Path) -> None:
    out = tmp_path / "pirate.jsonl"
    result = run_synth(llm_settings, "persona", out, persona="pirate", max_rows=5)
    rows = list(iter_canonical(out))
    assert result["rows"] == 5 and result["complete"] and rows[0]["messages"][1]["content"].startswith("Arr matey, ")
    manifest = read_manifest(out)
    assert manifest.generator.model == "scripted-1" and "Captain Selftune" in manifest.generator.prompt
    assert manifest.generator.persona == "pirate" and not out.with_name(out.name + ".partial").exists()


def test_dpo_pairs_are_valid_preference_rows(llm_settings: Settings, tmp_path: Path) -> None:
    out = tmp_path / "dpo.jsonl"
    run_synth(llm_settings, "dpo", out, persona="pirate", max_rows=3)
    report = validate_file(out)
    assert (report.format, report.valid) == ("dpo", 3)
    row = next(iter_canonical(out))
    assert row["chosen"][0]["content"].startswith("Arr") and row["rejected"][0]["content"].startswith("Plain:")


def test_qa_from_documents_and_multiturn(llm_settings: Settings, tmp_path: Path) -> None:
    doc = tmp_path / "doc.txt"
    doc.write_text("Ships float because of buoyancy.\n\nThe anchor keeps a ship in place.")
    qa = run_synth(llm_settings, "qa", tmp_path / "qa.jsonl", documents=[doc], max_rows=3)
    assert qa["rows"] == 1 and validate_file(tmp_path / "qa.jsonl").ok
    multi = run_synth(llm_settings, "multiturn", tmp_path / "mt.jsonl", max_rows=2)
    assert multi["rows"] == 2 and len(next(iter_canonical(tmp_path / "mt.jsonl"))["messages"]) == 2 + 2 * 2


def test_killed_run_resumes_without_duplicates(llm_settings: Settings, tmp_path: Path) -> None:
    out = tmp_path / "p.jsonl"
    Scripted.fail_after = 3  # the provider dies after three answers, like a killed run
    with pytest.raises(Exception):  # noqa: B017 - whichever provider error surfaces, the run stops
        run_synth(llm_settings, "persona", out, persona="pirate", max_rows=6)
    partial = out.with_name(out.name + ".partial")
    partial.write_bytes(partial.read_bytes() + b'{"seed": "half-writ')  # killed mid-write
    Scripted.fail_after = None
    result = run_synth(llm_settings, "persona", out, persona="pirate", max_rows=6)
    questions = [r["messages"][0]["content"] for r in iter_canonical(out)]
    assert result["resumed"] == 3 and result["rows"] == 6 and len(set(questions)) == 6


def test_cli_synth_budget(llm_settings: Settings, tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    result = CliRunner().invoke(app, ["dataset", "synth", "reasoning", "--out", str(out), "--rows", "2", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rows"] == 2
    refused = CliRunner().invoke(app, ["dataset", "synth", "persona", "--out", str(out)])
    assert refused.exit_code == 2 and "--persona" in refused.output  # a usage error


@pytest.mark.slow
def test_persona_synth_with_real_smollm2(settings: Settings, smollm2_dir: Path, tmp_path: Path) -> None:
    local = settings.model_copy(update={"llm": settings.llm.model_copy(
        update={"provider": "local", "model": "smollm2", "max_new_tokens": 24, "fallback": []})})
    out = tmp_path / "pirate.jsonl"
    result = run_synth(local, "dpo", out, persona="pirate", max_rows=2, max_seconds=120)
    assert result["rows"] >= 1 and validate_file(out).ok
    assert read_manifest(out).generator.model
