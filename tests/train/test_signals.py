"""The worker as a real process: SIGKILL loses nothing past the last checkpoint, SIGTERM saves and exits 143."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.train.conftest import sft_rows, write_jsonl
from tests.train.helpers import make_spec

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def start_worker(settings):
    procs: list[subprocess.Popen] = []

    def start(spec_path: Path) -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-m", "skills.train.worker", str(spec_path)], cwd=REPO,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def read_until(proc: subprocess.Popen, kind: str) -> tuple[dict, list[dict]]:
    """Events up to and including the first of `kind` (bounded by the process's own end)."""
    seen = []
    for line in proc.stdout:
        event = json.loads(line)  # stdout carries events only
        seen.append(event)
        if event["event"] == kind:
            return event, seen
    raise AssertionError(f"worker ended without a {kind!r} event: {seen}")


def test_kill_then_resume_then_sigterm(settings, start_worker, tmp_path: Path) -> None:
    from peft import PeftModel

    from skills.models import load_model

    data = write_jsonl(tmp_path / "data.jsonl", sft_rows(48))
    # No evaluation within reach, so no early stopping either (which would checkpoint at its evaluations instead).
    spec_path = make_spec(tmp_path, data, max_steps=400, save_steps=5, eval_steps=1000, early_stopping_patience=0)
    first = start_worker(spec_path)
    checkpoint, _ = read_until(first, "checkpoint")
    first.kill()
    first.wait(timeout=30)
    assert checkpoint["step"] == 5

    second = start_worker(spec_path)
    start, _ = read_until(second, "start")
    assert start["resumed_from"] == 5
    progress, _ = read_until(second, "progress")
    assert progress["step"] > 5, "training continues after the saved step"
    saved, _ = read_until(second, "checkpoint")
    second.send_signal(signal.SIGTERM)
    rest = [json.loads(line) for line in second.stdout]
    assert second.wait(timeout=60) == 143
    final_ckpt = [e for e in rest if e["event"] == "checkpoint"] or [saved]
    ckpt_dir = Path(final_ckpt[-1]["path"])
    assert (ckpt_dir / "trainer_state.json").is_file() and (ckpt_dir / "adapter_model.safetensors").is_file()
    base, _ = load_model("tiny", settings.models_dir)
    PeftModel.from_pretrained(base, ckpt_dir)  # the checkpoint is a usable adapter
    assert not (tmp_path / "adapters" / "test-lora" / "v1").exists(), "no half-finished adapter"
    assert os.path.isdir(tmp_path / "adapters" / "test-lora" / "v1.ckpt")
