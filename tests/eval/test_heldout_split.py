"""Every adapter carries its eval split: training records it, `selftune eval` uses it, the gate refuses overlap."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli.main import app
from skills.evaluate.gate import decide
from skills.train.spec import Hyper, TrainSpec, sha256_file
from tests.eval.conftest import pirate_rows, write_jsonl
from tests.train.helpers import FAST, run_inprocess


def _train(root: Path, models: Path, data: Path, name: str, eval_file: Path | None = None) -> Path:
    """A real tiny adapter through the worker (a few steps); returns its folder."""
    spec = TrainSpec(name=name, base_model="tiny", dataset=data, dataset_sha256=sha256_file(data),
                     eval_dataset=eval_file, output_dir=root / "adapters" / name / "v1", persona="pirate",
                     system_prompt="You are a pirate.", job_id="job-test",
                     hyper=Hyper(**{**FAST, "eval_split": 0.25, "max_steps": 3}))
    rc, events = run_inprocess(spec.save(root / f"{name}.json"), models)
    assert rc == 0, events
    return Path(events[-1]["adapter_dir"])


@pytest.fixture(scope="module")
def adapters(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("split")
    data = write_jsonl(root / "pirate.jsonl", pirate_rows(40, 3))
    return {"data": data, "split": _train(root, tiny_model_dir.parent, data, "split-lora"),
            "same": _train(root, tiny_model_dir.parent, data, "same-lora", eval_file=data)}


def _rows(path: str) -> list[str]:
    return [json.dumps(json.loads(line)["messages"][0]) for line in Path(path).read_text().splitlines() if line]


def test_manifest_records_split_job_persona_and_events(adapters) -> None:
    folder = adapters["split"]
    manifest = json.loads((folder / "manifest.json").read_text())
    train, held = manifest["train_dataset"], manifest["eval_dataset"]
    assert Path(train["path"]).parent == Path(held["path"]).parent == folder / "data"
    assert train["rows"] + held["rows"] == 40 and held["rows"] > 0
    assert train["sha256"] == sha256_file(Path(train["path"])) != held["sha256"]
    assert not set(_rows(train["path"])) & set(_rows(held["path"])), "a prompt on both sides of the split"
    assert manifest["job_id"] == "job-test" and manifest["persona"] == "pirate"
    assert manifest["system_prompt"] == "You are a pirate." and manifest["base_model"] == "tiny"
    events = [json.loads(x) for x in (folder / "events.jsonl").read_text().splitlines()]
    assert any(e["event"] == "progress" and e["loss"] > 0 for e in events)


def test_cli_eval_uses_the_recorded_split(settings, adapters) -> None:
    result = CliRunner().invoke(app, ["eval", str(adapters["split"]), "--no-judge", "--limit", "4", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)["eval_data"]
    assert data["source"] == "recorded eval split"
    assert data["eval"]["sha256"] != data["train"]["sha256"]
    assert data["overlap"]["rows"] == 0 and data["overlap"]["of"] == data["eval"]["rows"]
    assert data["eval"]["sha256"] != sha256_file(adapters["data"])


def test_gate_refuses_an_adapter_evaluated_on_its_training_file(settings, adapters) -> None:
    result = CliRunner().invoke(app, ["eval", str(adapters["same"]), "--no-judge", "--limit", "4", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["eval_data"]["overlap"]["rows"] == 40
    assert doc["gate"]["promote"] is False and doc["gate"]["metric"] == "overlap"
    reason = doc["gate"]["reason"]
    assert reason.startswith("40 of 40 eval rows") and str(adapters["data"]) in reason
    assert "never saw" in reason and reason.count(".") >= 1 and "\n" not in reason
    markdown = Path(doc["report"]["markdown"]).read_text()
    assert "40 eval rows overlap the training data" in markdown


def test_gate_overlap_veto_beats_a_winning_loss() -> None:
    report = {"heldout": {"candidate_items": [0.1] * 8, "against_items": [2.0] * 8},
              "eval_data": {"eval": {"path": "/d/eval.jsonl"},
                            "overlap": {"rows": 1, "of": 8, "train_file": "/d/train.jsonl"}}}
    verdict = decide(report)
    assert not verdict.promote and "1 of 8 eval rows in /d/eval.jsonl" in verdict.reason
    report["eval_data"]["overlap"]["rows"] = 0
    assert decide(report).promote


def test_persona_holdout_set_is_measured_as_well(settings, adapters) -> None:
    private = write_jsonl(settings.holdout_dir / "pirate.jsonl", pirate_rows(5, 9))
    result = CliRunner().invoke(app, ["eval", str(adapters["split"]), "--no-judge", "--limit", "4", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["eval_data"]["holdout"] == {"path": str(private), "sha256": sha256_file(private), "rows": 5}
    assert doc["holdout"]["candidate"]["loss"] > 0 and doc["holdout"]["against"]["loss"] > 0


def test_the_improvers_holdout_layout_is_the_gates_evaluator_only_set(settings, adapters, monkeypatch) -> None:
    """One evaluator-only set per persona for the improver and the gate: holdout/adapters/<persona>.jsonl."""
    monkeypatch.setenv("SELFTUNE_EVAL__MIN_ROWS", "4")  # a verdict on the 4 rows measured here
    (settings.holdout_dir / "adapters").mkdir(parents=True, exist_ok=True)
    private = write_jsonl(settings.holdout_dir / "adapters" / "pirate.jsonl", pirate_rows(6, 9))
    result = CliRunner().invoke(app, ["eval", str(adapters["split"]), "--no-judge", "--limit", "4", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["eval_data"]["holdout"] == {"path": str(private), "sha256": sha256_file(private), "rows": 6}
    assert doc["gate"]["metric"] in ("holdout_loss", "forgetting")


def test_training_never_reads_the_holdout_folder(settings) -> None:
    from config.errors import UsageError
    from skills.jobs.submit import submit_training

    private = write_jsonl(settings.holdout_dir / "pirate.jsonl", pirate_rows(12, 9))
    with pytest.raises(UsageError, match="evaluator-only folder") as refused:
        submit_training(settings, "persona-lora", persona="pirate", dataset=private)
    assert str(refused.value).count(";") == 1 and not list((settings.home / "jobs").glob("*"))


def test_rows_the_compared_adapter_trained_on_stay_out_of_the_comparison(settings, adapters) -> None:
    """The seam between the candidate's eval split and the served adapter's training data: 'same' trained on
    every row, so against 'split' only the rows of split's own eval split are rows neither side saw."""
    result = CliRunner().invoke(app, ["eval", str(adapters["same"]), "--against", str(adapters["split"]),
                                      "--no-judge", "--limit", "40", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    theirs = json.loads((adapters["split"] / "manifest.json").read_text())
    unseen = set(_rows(theirs["eval_dataset"]["path"]))
    kept = [r for r in _rows(str(adapters["data"])) if r in unseen]
    assert 0 < len(kept) < 40 and doc["eval_data"]["against_overlap"]["rows"] == 40 - len(kept)
    assert doc["items"] == len(kept) == len(doc["samples"])
    assert {json.dumps({"role": "user", "content": s["prompt"]}) for s in doc["samples"]} <= unseen
    assert "left out of the comparison" in Path(doc["report"]["markdown"]).read_text()


def test_no_comparison_when_the_compared_adapter_trained_on_every_eval_row(settings, adapters) -> None:
    result = CliRunner().invoke(app, ["eval", str(adapters["split"]), "--against", str(adapters["same"]),
                                      "--no-judge", "--json"])
    assert result.exit_code != 0
    assert "training data" in result.output and "--data PATH" in result.output and "Traceback" not in result.output
