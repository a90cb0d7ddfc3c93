"""`selftune eval` and the eval.run skill, used the way a user and the assistant do."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from agent.cli.main import app
from config.errors import PermissionDenied
from skills.context import Requester, SkillContext
from skills.registry import load_registry


def test_cli_eval_json_prints_one_document(settings, tiny_adapter, eval_data):
    result = CliRunner().invoke(app, ["eval", str(tiny_adapter), "--data", str(eval_data["eval"]), "--no-judge",
                                      "--limit", "4", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["items"] == 4 and "candidate_items" not in doc["heldout"]
    assert set(doc["report"]) == {"json", "markdown", "png"}
    # 4 held-out rows are fewer than eval.min_rows (16 by default): no promote verdict, and the report says why.
    assert doc["gate"]["promote"] is False and doc["gate"]["metric"] == "evidence"
    assert "only 4 held-out rows" in doc["gate"]["reason"]


def test_cli_eval_on_too_few_rows_says_no_verdict_in_one_sentence(settings, tiny_adapter, eval_data):
    result = CliRunner().invoke(app, ["eval", str(tiny_adapter), "--data", str(eval_data["eval"]), "--no-judge",
                                      "--limit", "4"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert "no verdict (too few rows)" in text and "eval.min_rows" in text and "promote —" not in text


def test_cli_eval_missing_adapter_is_one_sentence(settings, tmp_path):
    result = CliRunner().invoke(app, ["eval", str(tmp_path / "nope"), "--json"])
    assert result.exit_code == 1
    assert "neither a PEFT adapter folder" in result.output and "Traceback" not in result.output


def test_skill_eval_run_needs_train_permission_and_reports_progress(settings, tiny_adapter, eval_data):
    registry = load_registry()
    events = []
    # Skill calls read only selftune's folders: the adapter as training leaves it, the data as an upload.
    adapter = shutil.copytree(tiny_adapter, settings.artifacts_dir / "adapters" / "pirate-tiny" / "v1")
    data = shutil.copytree(eval_data["eval"].parent, settings.artifacts_dir / "datasets") / "eval.jsonl"
    ctx = SkillContext(settings=settings, requester=Requester(permission="train"), progress=events.append)
    doc = registry.call("eval.run", {"adapter": str(adapter), "data": str(data),
                                     "judge": False, "limit": 2}, ctx)
    assert doc["items"] == 2 and any("held-out" in e["message"] for e in events)
    reader = SkillContext(settings=settings, requester=Requester(permission="read"))
    with pytest.raises(PermissionDenied):
        registry.call("eval.run", {"adapter": str(tiny_adapter)}, reader)


def test_cli_eval_takes_a_persona_name(settings, tiny_adapter, eval_data):
    # Trained for the persona "pirate" but not promoted yet: the persona name means its newest adapter.
    shutil.copytree(tiny_adapter, settings.artifacts_dir / "adapters" / "pirate-tiny" / "v1")
    result = CliRunner().invoke(app, ["eval", "pirate", "--data", str(eval_data["eval"]), "--no-judge",
                                      "--limit", "2", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert "pirate-tiny" in json.dumps(doc) and doc["items"] == 2
    unknown = CliRunner().invoke(app, ["eval", "parrot", "--json"])
    assert unknown.exit_code == 1 and "persona" in json.loads(unknown.stdout)["error"]
