"""bench/run_all.py on stand-in scripts: figures from printed lines and --json, ratios, timeouts, the table."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("bench_run_all", REPO / "bench" / "run_all.py")
run_all = importlib.util.module_from_spec(spec)
spec.loader.exec_module(run_all)


def script(folder: Path, name: str, body: str) -> None:
    (folder / f"{name}.py").write_text(body, encoding="utf-8")


def test_runs_every_script_and_writes_one_table(tmp_path: Path) -> None:
    benches, out = tmp_path / "bench", tmp_path / "results"
    benches.mkdir()
    script(benches, "agent", 'print("command intent: skill direct 2.00 ms | via router 3.00 ms | overhead 1.00 ms")\n')
    script(benches, "voice", "import argparse, json, pathlib\np = argparse.ArgumentParser()\n"
           'p.add_argument("--json", type=pathlib.Path)\np.add_argument("--quick", action="store_true")\n'
           'a = p.parse_args()\nassert a.quick, "make bench runs the voice bench bounded"\n'
           'a.json.write_text(json.dumps({"rows": [{"clip": "a", "rtf": 0.1}]}))\nprint("a: RTF 0.100")\n')
    script(benches, "slow", "import time\ntime.sleep(30)\n")
    script(benches, "broken", "raise SystemExit('no GPU here')\n")
    code = run_all.main(["--dir", str(benches), "--out", str(out), "--timeout", "3"])
    assert code == 1  # a script failed and one timed out
    doc = json.loads((out / "summary.json").read_text())
    runs = {r["script"]: r for r in doc["runs"]}
    assert runs["agent"]["status"] == "ok" and runs["slow"]["status"] == "timeout"
    assert runs["broken"]["status"] == "failed" and "no GPU here" in runs["broken"]["note"]
    router = next(f for f in doc["figures"] if f["figure"] == "command intent via router")
    assert (router["value"], router["baseline"], router["ratio"]) == (3.0, 2.0, 1.5)
    assert any(f["figure"] == "rows[0].rtf" and f["value"] == 0.1 for f in doc["figures"])
    table = (out / "summary.md").read_text()
    assert "| agent | command intent via router | 3 | 2 | 1.5 | ms |" in table and "timeout" in table
