"""What the bot host holds during one nightly retrain: `selftune schedule run-now pirate` all-local vs with
`executor.kind = "ray"` (a Ray head on 127.0.0.1 with a `trainer` resource stands in for the GPU box; the host
process cannot import torch there, as on a `.[bot]` install). Figures: the run-now process's own peak RSS, its CPU
time and its wall time. Target: host peak RSS < 600 MiB with Ray (issue 32).

    .venv/bin/python bench/two_machines.py [--json OUT]

The tiny model, 12 harvested conversations, a 30-step LoRA; the persona's Ollama model is created on a fake
Ollama server FROM a pulled model + ADAPTER, as in tests/jobs/test_two_machines.py. All-local, training runs in
a local worker process (not counted: it is not the run-now process); the gate's evaluation and the LoRA GGUF run
inside run-now. With Ray, all three run on the Ray node.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from tests.jobs.two_machine_setup import PULLED, RayHead, host_env, pirate_listens  # noqa: E402 - after the path

MODEL_CACHE = Path(os.environ.get("SELFTUNE_TEST_MODEL_CACHE", REPO / ".cache" / "models"))
# Runs the CLI in the measured process and reports its own peak RSS and CPU time as it exits.
PROBE = """
import atexit, json, resource, sys, time
started = time.monotonic()
def report():
    own = resource.getrusage(resource.RUSAGE_SELF)
    sys.stderr.write("BENCH " + json.dumps({"peak_rss_mib": own.ru_maxrss / 1024, "cpu_s": own.ru_utime + own.ru_stime,
                                            "wall_s": time.monotonic() - started}) + "\\n")
atexit.register(report)
sys.argv = ["selftune", "schedule", "run-now", "pirate", "--json"]
from agent.cli.main import app
app()
"""


def _state_dir(root: Path, name: str) -> Path:
    home = root / name
    home.mkdir(parents=True)
    (home / "models").symlink_to(MODEL_CACHE, target_is_directory=True)
    return home


def _seed(home: Path) -> None:
    """The pirate listens to a consented channel with 12 new exchanges; the workspace's recipe is short."""
    os.environ["SELFTUNE_HOME"] = str(home)
    from config.settings import Settings
    from config.state import ensure_state_dir

    settings = Settings(home=home, base_model="tiny")
    ensure_state_dir(settings)
    pirate_listens(settings)


def _night(home: Path, ollama_host: str, ray_address: str | None) -> dict:
    """One `schedule run-now pirate` in its own process; its outcome and its own figures. With a Ray address the
    process is a bot host: no weight library importable, every model step on the Ray node."""
    # eval.min_rows = 2: the gate decides on the night's few eval rows, so the night goes on to promote and serve
    env = host_env(home, ray_address=ray_address, ollama_host=ollama_host, SCHEDULER__MIN_NEW_CONVERSATIONS="3",
                   EVAL__MIN_ROWS="2")
    proc = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=900,
                          cwd=home.parent)
    figures = next((json.loads(line[6:]) for line in proc.stderr.splitlines() if line.startswith("BENCH ")), None)
    if proc.returncode != 0 or figures is None:
        raise SystemExit(f"run-now failed ({proc.returncode}): {proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    outcome = json.loads(proc.stdout)
    return {**figures, "status": outcome["status"], "steps": [s["step"] for s in outcome["steps"]]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="Write the figures here.")
    args = parser.parse_args()
    from skills.export.gguf import parameter_count
    from skills.models import resolve_base_model
    from tests.eval.fake_ollama import FakeOllama

    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="st-bench-two-") as tmp, FakeOllama() as ollama:
        root = Path(tmp)
        ollama.pull(PULLED, "llama", "1M",
                    parameter_count=parameter_count(resolve_base_model("tiny", MODEL_CACHE)))
        local_home, host_home = _state_dir(root, "local"), _state_dir(root, "bot-host")
        _seed(local_home)
        _seed(host_home)
        local = _night(local_home, ollama.host, None)
        box = _state_dir(root, "gpu-box")
        with RayHead(box, box / "head.log") as head:
            ray = _night(host_home, ollama.host, head.address)
    doc = {"local": local, "ray": ray, "loadavg_before": load, "cpus": os.cpu_count()}
    print(f"one nightly retrain (tiny model, 30 steps), load average before {load[0]:.2f} on {os.cpu_count()} CPUs")
    for name, run in (("all-local", local), ("ray", ray)):
        print(f"  {name:9}: {run['status']:8} peak RSS {run['peak_rss_mib']:.0f} MiB  CPU {run['cpu_s']:.1f} s  "
              f"wall {run['wall_s']:.1f} s  ({' → '.join(run['steps'])})")
    print(f"host peak RSS: all-local {local['peak_rss_mib']:.0f} MiB | ray {ray['peak_rss_mib']:.0f} MiB")
    print(f"host CPU time: all-local {local['cpu_s']:.1f} s | ray {ray['cpu_s']:.1f} s")
    print(f"host wall time: all-local {local['wall_s']:.1f} s | ray {ray['wall_s']:.1f} s")
    if args.json:
        args.json.write_text(json.dumps(doc, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
