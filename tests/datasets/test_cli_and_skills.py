"""The dataset commands and skills used the way a user (or the assistant) uses them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from agent.cli.main import app
from skills.context import Requester, SkillContext
from skills.registry import load_registry
from tests.datasets.conftest import chat

runner = CliRunner()


def uploaded(settings, source: Path) -> Path:
    """A copy of `source` where uploads are stored: the only place confined skill calls read from."""
    folder = settings.artifacts_dir / "datasets" / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(source, folder))


def test_validate_json_contract_and_exit_codes(settings, lf: Path, write_jsonl) -> None:
    ok = runner.invoke(app, ["dataset", "validate", str(lf / "kto_en_demo.json"), "--json"])
    assert ok.exit_code == 0
    doc = json.loads(ok.stdout)
    assert set(doc) >= {"path", "format", "rows", "valid", "invalid", "errors", "warnings"}
    assert (doc["format"], doc["rows"], doc["invalid"]) == ("kto", 30, 0)
    bad = runner.invoke(app, ["dataset", "validate", str(write_jsonl([chat(), "oops"])), "--json"])
    assert bad.exit_code == 1 and json.loads(bad.stdout)["errors"][0]["line"] == 2


def test_validate_human_output_names_the_line(settings, write_jsonl) -> None:
    result = runner.invoke(app, ["dataset", "validate", str(write_jsonl([chat(), {"messages": []}]))])
    assert result.exit_code == 1 and ":2:" in result.stdout and "non-empty list" in result.stdout


def test_unreadable_file_is_one_sentence_exit_1(settings, tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("instruction,output\nhi,hello\n")
    result = runner.invoke(app, ["dataset", "validate", str(tmp_path / "d.csv")])
    assert result.exit_code == 1 and "looks like CSV" in result.stdout and "Traceback" not in result.stdout


def test_convert_refuses_lossy_then_allows(settings, lf: Path, tmp_path: Path) -> None:
    out = tmp_path / "a.jsonl"
    refused = runner.invoke(app, ["dataset", "convert", str(lf / "glaive_toolcall_en_demo.json"), str(out), "--to", "alpaca"])
    assert refused.exit_code == 1 and "--allow-lossy" in refused.output and not out.exists()
    done = runner.invoke(app, ["dataset", "convert", str(lf / "glaive_toolcall_en_demo.json"), str(out),
                               "--to", "alpaca", "--allow-lossy", "--json"])
    assert done.exit_code == 0 and json.loads(done.stdout)["skipped"] == 17
    assert json.loads(Path(str(out) + ".manifest.json").read_text())["format"] == "alpaca"


def test_stats_counts_tokens_with_the_chat_template(settings, lf: Path) -> None:
    result = runner.invoke(app, ["dataset", "stats", str(lf / "identity.json"), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["rows"] == 91 and doc["roles"] == {"user": 91, "assistant": 91}
    assert doc["tokens"]["min"] > 5 and doc["tokens"]["max"] >= doc["tokens"]["p95"]


def test_split_and_mix_commands(settings, lf: Path, tmp_path: Path) -> None:
    split = runner.invoke(app, ["dataset", "split", str(lf / "alpaca_en_demo.json"), "--out-dir", str(tmp_path), "--json"])
    assert split.exit_code == 0
    train = json.loads(split.stdout)["train"]["path"]
    mix = runner.invoke(app, ["dataset", "mix", f"{train}:3", f"{lf / 'identity.json'}:1", "-o", str(tmp_path / "m.jsonl"),
                              "--rows", "40", "--json"])
    assert mix.exit_code == 0
    assert [s["rows"] for s in json.loads(mix.stdout)["sources"]] == [30, 10]


def test_skills_are_registered_with_permissions(settings, lf: Path) -> None:
    registry = load_registry()
    perms = {name: registry.get(name).permission for name in
             ("dataset.validate", "dataset.stats", "dataset.convert", "dataset.split", "dataset.mix")}
    assert perms == {"dataset.validate": "read", "dataset.stats": "read", "dataset.convert": "train",
                     "dataset.split": "train", "dataset.mix": "train"}
    reader = SkillContext(settings, Requester(user="discord:1", permission="read"))
    report = registry.call("dataset.validate", {"path": str(uploaded(settings, lf / "dpo_en_demo.json"))}, reader)
    assert report["format"] == "dpo" and report["valid"] == 20


def test_convert_skill_writes_under_artifacts(settings, lf: Path) -> None:
    registry = load_registry()
    ctx = SkillContext(settings, Requester(permission="train"))
    result = registry.call("dataset.convert", {"path": str(uploaded(settings, lf / "identity.json")),
                                               "output": "identity.jsonl"}, ctx)
    assert Path(result["path"]) == settings.artifacts_dir / "datasets" / "identity.jsonl"
    again = registry.call("dataset.validate", {"path": "identity.jsonl"}, ctx)
    assert again["valid"] == 91
