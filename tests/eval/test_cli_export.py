"""`selftune export` as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from agent.cli.main import app


def test_export_merged_json(settings, tiny_adapter, tmp_path):
    result = CliRunner().invoke(app, ["export", str(tiny_adapter), "--to", "merged", "--out", str(tmp_path / "x"), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["to"] == "merged" and (tmp_path / "x" / "merged" / "config.json").is_file()


def test_export_gguf_of_a_base_without_a_packaged_gguf_converts_the_base_once(settings, tiny_adapter):
    """No GGUF ships for the tiny base: llama.cpp's converter makes one (cached) and the LoRA GGUF goes on it."""
    result = CliRunner().invoke(app, ["export", str(tiny_adapter), "--to", "gguf", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert Path(doc["path"]).read_bytes()[:4] == b"GGUF" and Path(doc["base_gguf"]).read_bytes()[:4] == b"GGUF"
    assert Path(doc["base_gguf"]).parent == settings.models_dir / "gguf"


def test_export_bad_target_is_usage_error(settings, tiny_adapter):
    assert CliRunner().invoke(app, ["export", str(tiny_adapter), "--to", "zip"]).exit_code == 2


def test_export_to_an_unwritable_out_is_one_sentence(settings, tiny_adapter, tmp_path):
    blocker = tmp_path / "a-file"  # --out under a file: no folder can be made there
    blocker.write_text("")
    args = ["export", str(tiny_adapter), "--to", "merged", "--out", str(blocker / "x")]
    result = CliRunner().invoke(app, [*args, "--json"])
    error = json.loads(result.stdout)["error"]
    assert result.exit_code == 1 and str(blocker) in error and "check the path" in error
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1 and "Traceback" not in result.output and "check the path" in result.output
