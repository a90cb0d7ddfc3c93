"""`selftune export` as a user runs it."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from agent.cli.main import app


def test_export_merged_json(settings, tiny_adapter, tmp_path):
    result = CliRunner().invoke(app, ["export", str(tiny_adapter), "--to", "merged", "--out", str(tmp_path / "x"), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["to"] == "merged" and (tmp_path / "x" / "merged" / "config.json").is_file()


def test_export_gguf_of_tiny_base_is_a_clear_error(settings, tiny_adapter):
    result = CliRunner().invoke(app, ["export", str(tiny_adapter), "--to", "gguf"])
    assert result.exit_code == 1 and "No base GGUF is known" in result.output and "Traceback" not in result.output


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
