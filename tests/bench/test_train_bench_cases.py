"""`bench/train.py` compares KTO and a both-bf16 case like for like, and says what precision each side ran."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_kto_and_precision_cases_run_on_both_sides(tmp_path: Path) -> None:
    out = tmp_path / "train.json"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "train.py"), "--model", "tiny", "--steps", "1",
                           "--cases", "kto-on", "sft-off-fp32", "--json", str(out)],
                          capture_output=True, text=True, timeout=600, env=env, cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-800:] + proc.stderr[-800:]
    lines = proc.stdout.splitlines()
    assert "sft ckpt=off fp32 precision: baseline fp32 | ours fp32" in lines  # forced like for like
    assert any(line.startswith("kto ckpt=on tokens/s: baseline ") for line in lines)
    assert any(line.startswith("kto ckpt=on train loss: baseline ") for line in lines)
    results = {r["label"]: r for r in json.loads(out.read_text())["results"]}
    kto = results["kto-on"]
    assert kto["baseline"]["tokens"] == kto["ours"]["tokens"] > 0  # the same rows, every token seen on both sides
    assert kto["baseline"]["bf16"] is False
