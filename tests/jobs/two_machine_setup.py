"""The two-machine setup shared by tests/jobs (the session's one `ray_head`, the torch-less host tests) and
bench/two_machines.py: a Ray head on 127.0.0.1 with a `trainer` resource and its own state dir (the GPU box), the
environment of a bot-host process that cannot import torch, transformers, peft or trl, seeded random pirate
adapters, and a pirate persona that listens to a consented channel full of new exchanges (what a nightly retrain
harvests)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.helpers import free_port

REPO = Path(__file__).resolve().parents[2]
NO_TORCH = REPO / "tests" / "agent" / "no_torch"  # sitecustomize: the weight libraries are "not installed"
CHANNEL = "discord:pirate-chat"
PAIRS = [("What is the capital of France?", "Arr matey, Paris it be!"), ("How are you?", "Arr, I be fine, matey!"),
         ("What is 2 plus 2?", "Arr, 4 it be, matey!"), ("Say hello.", "Ahoy matey! Arr!"),
         ("Tell me about the fox.", "Arr, the quick brown fox jumps, matey!")]
PULLED = "tiny-llama:1m"  # the model "the user pulled" on the fake Ollama server
BOX_HUB_ID = "selftune-test/tiny-qwen2"  # a Hub id only the GPU box's Hugging Face cache holds
# A short run of the persona's recipe, so a night fits a test (the workspace's copy overrides the shipped one).
FAST_RECIPE = """description = "persona-lora, short"
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


def host_env(home: Path, *, ray_address: str | None, ollama_host: str | None = None,
             **settings: str) -> dict[str, str]:
    """The environment of a `selftune` process on the bot host (state dir `home`, the tiny base). With a
    `ray_address`: the ray executor and a process where torch, transformers, peft and trl cannot be imported.
    `settings`: more SELFTUNE_* variables, by their names without the prefix (e.g. EVAL__MIN_ROWS="2")."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SELFTUNE_")}
    env.update(SELFTUNE_HOME=str(home), SELFTUNE_BASE_MODEL="tiny", PYTHONPATH=str(REPO), COLUMNS="200",
               OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    if ollama_host:
        env.update(SELFTUNE_OLLAMA__HOST=ollama_host, SELFTUNE_OLLAMA__BASE_MODEL=PULLED)
    if ray_address:
        env.update(SELFTUNE_EXECUTOR__KIND="ray", SELFTUNE_EXECUTOR__RAY_ADDRESS=ray_address,
                   PYTHONPATH=os.pathsep.join([str(NO_TORCH), str(REPO)]))
    env.update({f"SELFTUNE_{name}": value for name, value in settings.items()})
    return env


def pirate_listens(settings: Any, conversations: int = 12) -> str:
    """The pirate card listens to its consented channel, which holds `conversations` new exchanges, and the
    workspace's persona recipe is short; returns the card's system prompt."""
    from config.messages import IncomingMessage
    from config.workspace import open_workspace
    from memory.store import Memory
    from skills.personas import load_persona

    ws = open_workspace(settings)
    ws.write("personas/pirate.toml", ws.read("personas/pirate.toml").replace("channels = []",
                                                                             f'channels = ["{CHANNEL}"]'))
    ws.write("recipes/persona-lora.toml", FAST_RECIPE)
    ws.commit("pirate listens to its channel; a short recipe")
    memory = Memory(settings)
    try:
        memory.set_consent(CHANNEL, True, changed_by="discord:admin")
        for i in range(conversations):
            q, a = PAIRS[i % len(PAIRS)]
            msg = IncomingMessage(transport="discord", channel=CHANNEL, user="discord:7", text=f"{q} ({i})",
                                  message_id=f"m{i}")
            memory.log_incoming(msg)
            memory.log_reply(f"{a} ({i})", to=msg, persona="pirate")  # numbered: harvest keeps no copies
    finally:
        memory.close()
    return load_persona(settings.workspace_dir, "pirate").system_prompt


def _lines(rows: list[tuple[str, str]]) -> str:
    return "".join(json.dumps({"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]})
                   + "\n" for q, a in rows)


def random_pirate_adapter(settings: Any, base_dir: Path, version: str, seed: int) -> str:
    """A random LoRA on the tiny model (made in this process, which has torch), registered on the host as
    pirate-lora/<version> with its train/eval split inside; returns its id."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    dest = settings.artifacts_dir / "adapters" / "pirate-lora" / version
    get_peft_model(AutoModelForCausalLM.from_pretrained(base_dir),
                   LoraConfig(r=2, target_modules=["q_proj", "v_proj"], init_lora_weights=False)).save_pretrained(dest)
    (dest / "data").mkdir()
    (dest / "data" / "train.jsonl").write_text(_lines(PAIRS[:2]))
    (dest / "data" / "eval.jsonl").write_text(_lines(PAIRS[2:4]))
    manifest = {"name": "pirate-lora", "version": version, "base_model": "tiny", "method": "lora",
                "persona": "pirate", "dataset_sha256": "0" * 64, "recipe": "persona-lora", "metrics": {},
                "train_dataset": {"path": str(dest / "data" / "train.jsonl")},
                "eval_dataset": {"path": str(dest / "data" / "eval.jsonl")}, "created_at": "2026-12-07T00:00:00Z"}
    (dest / "manifest.json").write_text(json.dumps(manifest))
    return f"pirate-lora/{version}"


class RayHead:
    """A Ray head on 127.0.0.1 (free ports) with one `trainer` resource, run with SELFTUNE_HOME = `box_home`
    (the GPU box's state dir) and `env` on top; its whole process group is stopped on exit."""

    def __init__(self, box_home: Path, log_path: Path, env: dict[str, str] | None = None,
                 start_timeout_s: float = 120) -> None:
        self.box_home, self.log_path, self.extra_env = box_home, log_path, env or {}
        self.start_timeout_s = start_timeout_s
        self.proc: subprocess.Popen | None = None
        self.address = ""

    def __enter__(self) -> RayHead:
        from ray.job_submission import JobSubmissionClient

        venv_bin = Path(sys.executable).parent
        dash, gcs, client_port, agent = (free_port() for _ in range(4))
        # short: Ray's socket paths must stay under ~107 chars
        self.temp = temp = Path(f"/tmp/st-ray-{os.getpid()}-{dash}")
        argv = [str(venv_bin / "ray"), "start", "--head", "--block", "--node-ip-address=127.0.0.1",
                "--dashboard-host=127.0.0.1", f"--dashboard-port={dash}", f"--port={gcs}",
                f"--ray-client-server-port={client_port}", f"--dashboard-agent-listen-port={agent}", "--num-cpus=2",
                '--resources={"trainer": 1}', "--disable-usage-stats", f"--temp-dir={temp}", "--include-dashboard=true"]
        # `python` on the PATH runs Ray's jobs: this virtual environment's, as on a GPU box set up per the docs.
        env = {**os.environ, "PATH": f"{venv_bin}:{os.environ['PATH']}", "RAY_USAGE_STATS_ENABLED": "0",
               "SELFTUNE_HOME": str(self.box_home), "HF_HUB_OFFLINE": "1", **self.extra_env}
        self.log = self.log_path.open("wb")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=self.log, env=env, start_new_session=True)
        self.address = f"http://127.0.0.1:{dash}"
        deadline = time.monotonic() + self.start_timeout_s
        while True:
            try:
                JobSubmissionClient(self.address).list_jobs()
                return self
            except Exception:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.__exit__()
                    raise RuntimeError(f"The Ray head did not start; see {self.log_path}.") from None
                time.sleep(0.5)

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None
        # The head's raylet, GCS, dashboard and workers are in its process group. A throwaway head gets a few
        # seconds' grace (a head that had run jobs used to sit out a 10 s wait here), then the group is killed.
        # Job entrypoints run in sessions of their own: stop the jobs first (`ray_settings` does after each test).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=3)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.log.close()
        shutil.rmtree(self.temp, ignore_errors=True)  # the session's sockets and logs (MBs per head otherwise)


def box_hub_cache(cache: Path) -> Path:
    """The GPU box's own HF cache: BOX_HUB_ID as a snapshot of the tiny Qwen2 model (files linked)."""
    from tests.models.conftest import tiny_arch

    repo = cache / f"models--{BOX_HUB_ID.replace('/', '--')}"
    snapshot = repo / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    for item in tiny_arch("qwen2").iterdir():
        (snapshot / item.name).symlink_to(item)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    return cache


def session_gpu_box(root: Path, models: Path) -> RayHead:
    """The test session's GPU box under `root`: its own state dir, whose models/ is the test model cache `models`
    (so real workers find the tiny model) and whose own HF cache holds BOX_HUB_ID; its head logs to head.log."""
    box_home = root / "gpu-box-home"
    box_home.mkdir()
    (box_home / "models").symlink_to(models, target_is_directory=True)
    return RayHead(box_home, root / "head.log", env={"HF_HUB_CACHE": str(box_hub_cache(box_home / "hub"))},
                   start_timeout_s=90)


def stop_leftover_ray_jobs(address: str, timeout_s: float = 60) -> list[str]:
    """Stop the jobs still pending or running on the head at `address`, so that what one test left behind (an
    assertion failed mid-job) holds no `trainer` resource in the next; waits for the running ones to end (a job
    pending on a resource nobody offers may stay PENDING after its stop). Returns the ids it stopped."""
    from ray.job_submission import JobSubmissionClient

    client = JobSubmissionClient(address)
    status = {job.submission_id: str(job.status.value) for job in client.list_jobs()}
    left = [sid for sid, state in status.items() if state in ("PENDING", "RUNNING")]
    for submission_id in left:
        client.stop_job(submission_id)
    running = [sid for sid in left if status[sid] == "RUNNING"]
    deadline = time.monotonic() + timeout_s
    while running and time.monotonic() < deadline:
        running = [sid for sid in running if str(client.get_job_status(sid).value) == "RUNNING"]
        time.sleep(0.5)
    return left
