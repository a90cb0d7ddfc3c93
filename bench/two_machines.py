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
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
NO_TORCH = REPO / "tests" / "agent" / "no_torch"
MODEL_CACHE = Path(os.environ.get("SELFTUNE_TEST_MODEL_CACHE", REPO / ".cache" / "models"))
CHANNEL = "discord:pirate-chat"
PAIRS = [("What is the capital of France?", "Arr matey, Paris it be!"), ("How are you?", "Arr, I be fine, matey!"),
         ("What is 2 plus 2?", "Arr, 4 it be, matey!"), ("Say hello.", "Ahoy matey! Arr!"),
         ("Tell me about the fox.", "Arr, the quick brown fox jumps, matey!")]
RECIPE = """description = "persona-lora, short (bench)"
method = "lora"

[hyper]
rank = 4
alpha = 8
target_modules = "all-linear"
learning_rate = 5e-3
max_steps = 30
batch_size = 4
max_length = 256
eval_steps = 1000
save_steps = 1000
logging_steps = 5
"""
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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _state_dir(root: Path, name: str) -> Path:
    home = root / name
    home.mkdir(parents=True)
    (home / "models").symlink_to(MODEL_CACHE, target_is_directory=True)
    return home


def _seed(home: Path) -> None:
    """The pirate listens to a consented channel with 12 new exchanges; the workspace's recipe is short."""
    os.environ["SELFTUNE_HOME"] = str(home)
    from config.messages import IncomingMessage
    from config.settings import Settings
    from config.state import ensure_state_dir
    from config.workspace import open_workspace
    from memory.store import Memory

    settings = Settings(home=home, base_model="tiny")
    ensure_state_dir(settings)
    ws = open_workspace(settings)
    ws.write("personas/pirate.toml", ws.read("personas/pirate.toml").replace("channels = []",
                                                                             f'channels = ["{CHANNEL}"]'))
    ws.write("recipes/persona-lora.toml", RECIPE)
    ws.commit("bench: the pirate listens; a short recipe")
    memory = Memory(settings)
    try:
        memory.set_consent(CHANNEL, True, changed_by="discord:admin")
        for i in range(12):
            q, a = PAIRS[i % len(PAIRS)]
            msg = IncomingMessage(transport="discord", channel=CHANNEL, user="discord:7", text=f"{q} ({i})",
                                  message_id=f"m{i}")
            memory.log_incoming(msg)
            memory.log_reply(a, to=msg, persona="pirate")
    finally:
        memory.close()


def _night(home: Path, ollama_host: str, ray_address: str | None) -> dict:
    """One `schedule run-now pirate` in its own process; its outcome and its own figures."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SELFTUNE_")}
    env.update(SELFTUNE_HOME=str(home), SELFTUNE_BASE_MODEL="tiny", SELFTUNE_SCHEDULER__MIN_NEW_CONVERSATIONS="3",
               SELFTUNE_OLLAMA__HOST=ollama_host, SELFTUNE_OLLAMA__BASE_MODEL="tiny-llama:1m",
               PYTHONPATH=str(REPO), OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    if ray_address:  # the bot host: no weight library importable, every model step on the Ray node
        env.update(SELFTUNE_EXECUTOR__KIND="ray", SELFTUNE_EXECUTOR__RAY_ADDRESS=ray_address,
                   PYTHONPATH=os.pathsep.join([str(NO_TORCH), str(REPO)]))
    proc = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=900,
                          cwd=home.parent)
    figures = next((json.loads(line[6:]) for line in proc.stderr.splitlines() if line.startswith("BENCH ")), None)
    if proc.returncode != 0 or figures is None:
        raise SystemExit(f"run-now failed ({proc.returncode}): {proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    outcome = json.loads(proc.stdout)
    return {**figures, "status": outcome["status"], "steps": [s["step"] for s in outcome["steps"]]}


class RayHead:
    """A Ray head on 127.0.0.1 with one `trainer` resource and its own state dir (the GPU box)."""

    def __init__(self, box_home: Path) -> None:
        self.box_home, self.proc, self.address = box_home, None, ""

    def __enter__(self) -> RayHead:
        from ray.job_submission import JobSubmissionClient

        venv_bin = Path(sys.executable).parent
        dash, gcs, client_port, agent = (_free_port() for _ in range(4))
        temp = Path(f"/tmp/st-bench-ray-{os.getpid()}")
        argv = [str(venv_bin / "ray"), "start", "--head", "--block", "--node-ip-address=127.0.0.1",
                "--dashboard-host=127.0.0.1", f"--dashboard-port={dash}", f"--port={gcs}",
                f"--ray-client-server-port={client_port}", f"--dashboard-agent-listen-port={agent}", "--num-cpus=2",
                '--resources={"trainer": 1}', "--disable-usage-stats", f"--temp-dir={temp}", "--include-dashboard=true"]
        env = {**os.environ, "PATH": f"{venv_bin}:{os.environ['PATH']}", "RAY_USAGE_STATS_ENABLED": "0",
               "SELFTUNE_HOME": str(self.box_home), "HF_HUB_OFFLINE": "1"}
        self.log = (self.box_home / "head.log").open("wb")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=self.log, env=env, start_new_session=True)
        self.address = f"http://127.0.0.1:{dash}"
        deadline = time.monotonic() + 120
        while True:
            try:
                JobSubmissionClient(self.address).list_jobs()
                return self
            except Exception:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise SystemExit(f"the Ray head did not start; see {self.log.name}") from None
                time.sleep(0.5)

    def __exit__(self, *exc: object) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.log.close()


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
        ollama.pull("tiny-llama:1m", "llama", "1M",
                    parameter_count=parameter_count(resolve_base_model("tiny", MODEL_CACHE)))
        local_home, host_home = _state_dir(root, "local"), _state_dir(root, "bot-host")
        _seed(local_home)
        _seed(host_home)
        local = _night(local_home, ollama.host, None)
        with RayHead(_state_dir(root, "gpu-box")) as head:
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
