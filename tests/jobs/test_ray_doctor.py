"""`selftune doctor` with executor ray against a real Ray head on loopback: the head answers and its `trainer`
worker is counted, so the user reads where model work runs (slow: the session's Ray head)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from agent.cli.main import app

pytestmark = pytest.mark.slow


def test_doctor_counts_the_trainer_worker_of_a_real_ray_head(ray_settings, monkeypatch) -> None:
    from skills.jobs.ray_exec import trainer_nodes
    from tests.jobs.conftest import wait_for

    monkeypatch.setenv("SELFTUNE_EXECUTOR__KIND", "ray")
    wait_for(lambda: trainer_nodes(ray_settings.executor.ray_address) is not None, 30)  # nodes listed seconds after start
    doc = json.loads(CliRunner().invoke(app, ["doctor", "--json"]).stdout)
    [ray] = [c for c in doc["checks"] if c["name"] == "ray"]
    assert ray["level"] == "ok" and "1 trainer worker(s)" in ray["detail"] and "model work runs there" in ray["detail"]
