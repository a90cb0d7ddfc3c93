"""`bench/train.py --device cuda` and `make bench-gpu` skip cleanly on a machine without CUDA."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def test_cuda_bench_skips_with_a_sentence_and_exit_0_without_a_gpu(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present: the GPU bench would really run")
    out = tmp_path / "train-gpu.json"
    env = {**os.environ, "PYTHONPATH": str(REPO), "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "train.py"), "--device", "cuda", "--json", str(out)],
                          capture_output=True, text=True, timeout=120, env=env, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-800:]
    assert proc.stdout.startswith("skipped: no CUDA GPU is visible")
    assert "Traceback" not in proc.stderr and not out.exists()


def test_make_bench_gpu_runs_the_cuda_train_bench() -> None:
    proc = subprocess.run(["make", "-n", "bench-gpu", "BIN=/venv/bin"], capture_output=True, text=True,
                          timeout=30, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert "bench/train.py --device cuda" in proc.stdout and "--peft qlora" in proc.stdout
