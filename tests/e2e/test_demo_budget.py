"""The demo finishes on a slow machine (its training has a time budget) and Ctrl-C leaves no process behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from typer.testing import CliRunner

from agent.cli.main import app
from config.settings import Settings

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_a_slowed_trainer_trains_fewer_steps_and_the_demo_reaches_export_and_serve(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SELFTUNE_TRAIN__STEP_DELAY_S", "1.5")  # the job's worker inherits it: ~1.5 s a step
    result = CliRunner().invoke(app, ["demo", "--tiny", "--train-budget", "6", "--json"])
    assert result.exit_code == 0, result.output
    steps = {s["name"]: s for s in json.loads(result.stdout)["steps"]}
    trained = steps["train"]
    assert trained["status"] == "ok" and 1 <= trained["data"]["steps"] < 40, trained
    assert "steps in the 6 s budget" in trained["detail"]
    for later in ("evaluate", "promote", "export", "serve"):  # all on the adapter the budget allowed
        assert steps[later]["status"] == "ok", steps[later]
    assert Path(steps["export"]["artifacts"]["gguf"]).read_bytes()[:4] == b"GGUF"
    assert isinstance(steps["serve"]["data"]["answer"], str)


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _still_running(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _wait_for_worker(demo: subprocess.Popen, seen: dict[int, psutil.Process], limit_s: float) -> bool:
    """Collect the demo's descendants until the training worker is among them."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline and demo.poll() is None:
        for proc in _descendants(demo.pid):
            seen.setdefault(proc.pid, proc)
            try:
                if "skills.train.worker" in " ".join(proc.cmdline()):
                    return True
            except psutil.Error:
                continue
        time.sleep(0.5)
    return False


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_ctrl_c_on_the_demo_leaves_no_process_behind(settings: Settings) -> None:
    env = {**os.environ, "SELFTUNE_TRAIN__STEP_DELAY_S": "2"}  # training outlasts the wait below
    demo = subprocess.Popen([sys.executable, "-m", "agent.cli.main", "demo", "--tiny"], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen: dict[int, psutil.Process] = {}
    try:
        assert _wait_for_worker(demo, seen, 240), "the demo never started its training worker"
        time.sleep(1)
        for proc in _descendants(demo.pid):
            seen.setdefault(proc.pid, proc)
        demo.send_signal(signal.SIGINT)
        _, err = demo.communicate(timeout=90)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait(timeout=30)
    assert demo.returncode == 130, err[-2000:]
    assert "nothing it started is still running" in err
    deadline = time.monotonic() + 10  # a SIGKILLed process may take a moment to disappear
    while any(_still_running(p) for p in seen.values()) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = [" ".join(p.cmdline()) for p in seen.values() if _still_running(p)]
    assert not left, left
    assert len(seen) >= 2  # at least the job's supervisor and its worker were there to stop
