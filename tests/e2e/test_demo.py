"""`selftune demo --tiny`: the whole flow in CI, run the way a user runs it (the CLI), every artifact checked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli.main import app
from config.settings import Settings

runner = CliRunner()
EXPECTED = ["dataset", "validate", "train", "evaluate", "promote", "export", "serve", "schedule", "improve"]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_tiny_demo_runs_every_step_and_the_adapter_beats_the_base(settings: Settings) -> None:
    result = runner.invoke(app, ["demo", "--tiny", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    steps = {s["name"]: s for s in doc["steps"]}
    assert list(steps) == EXPECTED and doc["ok"] and doc["home"] == str(settings.home)
    for name in EXPECTED:  # serve too: the tiny base is converted to a GGUF once, as any other base
        assert steps[name]["status"] == "ok", steps[name]
        for path in steps[name]["artifacts"].values():
            assert Path(path).exists(), (name, path)
    assert steps["evaluate"]["data"]["adapter_loss"] < steps["evaluate"]["data"]["base_loss"]
    assert Path(steps["evaluate"]["artifacts"]["png"]).read_bytes()[:4] == b"\x89PNG"
    assert (Path(steps["train"]["artifacts"]["adapter"]) / "manifest.json").is_file()
    assert Path(steps["export"]["artifacts"]["gguf"]).read_bytes()[:4] == b"GGUF"
    assert (Path(steps["export"]["artifacts"]["merged"]) / "config.json").is_file()
    assert steps["schedule"]["data"]["id"] == "retrain:pirate"
    assert steps["improve"]["data"]["rounds"] == 1
    served = (settings.workspace_dir / "adapters" / "served.toml").read_text()
    assert steps["train"]["data"]["adapter_id"] in served


def test_demo_help_explains_the_modes() -> None:
    result = runner.invoke(app, ["demo", "--help"])
    assert result.exit_code == 0 and "--tiny" in result.output and "--home" in result.output
