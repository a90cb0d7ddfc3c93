"""A job started from the terminal says how it ended, in the terminal: success with the next step, or failure
with the reason. The REPL runs as `selftune run --console` runs it, fed by a scripted stdin."""

from __future__ import annotations

import io
import json
import threading
import time
from pathlib import Path

import pytest
from rich.console import Console

import skills.jobs.manager as job_manager
from agent.console import run_console
from agent.router import Router
from config.workspace import open_workspace
from skills.jobs import JobManager
from tests.discord.conftest import FAKE_TRAINER
from tests.helpers import stop_unfinished_jobs

ROW = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "arr"}]}


class ScriptedStdin(io.TextIOBase):
    """The person at the keyboard: types `lines`, then waits until `until()` holds (or 60 s) and types exit."""

    def __init__(self, lines: list[str], until) -> None:
        self.lines, self.until = list(lines), until

    def readline(self, size: int = -1) -> str:
        if self.lines:
            return self.lines.pop(0) + "\n"
        deadline = time.monotonic() + 60
        while not self.until() and time.monotonic() < deadline:
            time.sleep(0.2)
        return "exit\n"


def run_terminal(settings, monkeypatch, lines: list[str], ended: str) -> str:
    out = io.StringIO()
    console = Console(file=out, width=200, force_terminal=False)
    monkeypatch.setattr("sys.stdin", ScriptedStdin(lines, lambda: ended in out.getvalue()))
    done = threading.Event()
    runner = threading.Thread(target=lambda: (run_console(Router(settings), console), done.set()), daemon=True)
    runner.start()
    runner.join(90)
    assert done.is_set(), out.getvalue()
    return " ".join(out.getvalue().split())


@pytest.fixture
def terminal(settings, monkeypatch, tmp_path):
    open_workspace(settings)
    settings.agent.confirm_jobs_over_s = 0  # the preview and its yes come first
    monkeypatch.setattr(job_manager, "DEFAULT_WORKER", [str(FAKE_TRAINER)])
    monkeypatch.setenv("FAKE_TRAINER_STEPS", "3")
    data = tmp_path / "pirate.jsonl"
    data.write_text("\n".join(json.dumps(ROW) for _ in range(20)) + "\n")
    yield data
    stop_unfinished_jobs(JobManager(settings))


def test_a_terminal_job_says_when_it_succeeded_and_what_to_try_next(settings, monkeypatch, terminal: Path):
    text = run_terminal(settings, monkeypatch, [f"tune a pirate persona adapter on {terminal}", "y"], "succeeded")
    assert "go ahead?" in text and "started" in text
    ended = text[text.index("succeeded") - 60:]
    assert "succeeded after 3 steps; its adapter is pirate-lora/v1" in ended
    assert "Next: say 'evaluate the pirate-lora/v1 adapter'" in ended


def test_a_terminal_job_says_why_it_failed(settings, monkeypatch, terminal: Path):
    monkeypatch.setenv("FAKE_TRAINER_FAIL", "CUDA out of memory")
    text = run_terminal(settings, monkeypatch, [f"tune a pirate persona adapter on {terminal}", "y"], "failed:")
    assert "failed: " in text and "CUDA out of memory" in text and "selftune jobs logs" in text
