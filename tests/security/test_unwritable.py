"""An output the OS refuses (a file in the way, a read-only place) is one sentence, not a traceback."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from agent.cli.main import app
from config.settings import Settings

runner = CliRunner()


def test_dataset_output_under_a_file_is_one_sentence(settings: Settings, datasets: Path, outside: Path) -> None:
    target = outside / "victim.txt" / "out.jsonl"  # a file where a folder would have to be
    result = runner.invoke(app, ["dataset", "convert", str(datasets / "good.jsonl"), str(target), "--to", "alpaca"])
    assert result.exit_code == 1 and "Cannot write" in result.output and "Traceback" not in result.output


def test_export_out_that_cannot_take_files_is_one_sentence(settings: Settings, outside: Path) -> None:
    adapter = settings.artifacts_dir / "adapters" / "pirate-lora" / "v1"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "tiny"}))
    out = outside / "victim.txt" / "export"
    result = runner.invoke(app, ["export", str(adapter), "--to", "merged", "--out", str(out)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "Cannot write the export to" in result.output and "--out" in result.output
    assert not (settings.artifacts_dir / "exports").exists()
