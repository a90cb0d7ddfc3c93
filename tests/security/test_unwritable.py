"""An output the OS refuses (a file in the way, a read-only place) is one sentence, not a traceback."""

from __future__ import annotations

import errno
import json
import re
from pathlib import Path

import pytest
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


def _lora_for_tiny(settings: Settings, tiny_model_dir: Path) -> Path:
    """A real LoRA adapter on the tiny model, registered as pirate-lora/v1."""
    from peft import LoraConfig, get_peft_model

    from skills.models import load_model

    folder = settings.artifacts_dir / "adapters" / "pirate-lora" / "v1"
    base, _ = load_model("tiny", tiny_model_dir.parent)
    get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"])).save_pretrained(folder)
    (folder / "manifest.json").write_text(json.dumps({"name": "pirate-lora", "version": "v1", "base_model": "tiny",
                                                      "method": "lora", "persona": "pirate"}))
    return folder


def _no_space(*_args: object, **_kwargs: object) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")  # as write() raises it: no file named


def test_export_onto_a_full_disk_says_the_disk_is_full(settings: Settings, tiny_model_dir: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    _lora_for_tiny(settings, tiny_model_dir)
    monkeypatch.setattr("transformers.modeling_utils.safe_save_file", _no_space)  # the disk fills mid-export

    result = runner.invoke(app, ["export", "pirate-lora/v1", "--to", "merged"])

    assert result.exit_code == 1 and "Traceback" not in result.output and "error id" not in result.output
    sentence = " ".join(result.output.replace("│", " ").split())
    assert re.search(rf"The disk holding {re.escape(str(settings.home))} is full \(\d+ MB free\)", sentence), sentence


def test_a_full_disk_before_the_export_starts_is_the_same_sentence(settings: Settings, tiny_model_dir: Path,
                                                                  monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _lora_for_tiny(settings, tiny_model_dir)
    monkeypatch.setattr("tempfile.TemporaryFile", _no_space)
    out = tmp_path / "exports"

    result = runner.invoke(app, ["export", "pirate-lora/v1", "--to", "merged", "--out", str(out), "--json"])

    doc = json.loads(result.stdout)
    assert result.exit_code == 1 and doc["error"].startswith(f"The disk holding {out} is full (")
    assert "MB free)" in doc["error"]
