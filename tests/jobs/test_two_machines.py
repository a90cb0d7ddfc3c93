"""Issue 32's done-when, as its users run it: a bot host (its own state dir, a process where torch, transformers,
peft and trl cannot be imported) and a GPU box (a real Ray head on loopback with a `trainer` resource and its own
state dir). `selftune schedule run-now pirate` on the host harvests the consented channel, trains on the box,
evaluates there, gates, promotes, and creates the persona's Ollama model FROM the model the user pulled + ADAPTER,
SYSTEM from the card, no TEMPLATE; `selftune rollback pirate` re-points it (slow)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from config.messages import IncomingMessage
from config.workspace import open_workspace
from memory.store import Memory
from skills.jobs import JobManager
from tests.eval.fake_ollama import FakeOllama

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
REPO = Path(__file__).resolve().parents[2]
NO_TORCH = REPO / "tests" / "agent" / "no_torch"
CHANNEL = "discord:pirate-chat"
PAIRS = [("What is the capital of France?", "Arr matey, Paris it be!"), ("How are you?", "Arr, I be fine, matey!"),
         ("What is 2 plus 2?", "Arr, 4 it be, matey!"), ("Say hello.", "Ahoy matey! Arr!"),
         ("Tell me about the fox.", "Arr, the quick brown fox jumps, matey!")]
# A short run of the persona's recipe, so the night fits a test (the workspace's copy overrides the shipped one).
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


def _pirate_listens(settings) -> str:
    """The pirate card listens to its (consented) channel, with the short recipe; returns its system prompt."""
    ws = open_workspace(settings)
    card = ws.read("personas/pirate.toml").replace("channels = []", f'channels = ["{CHANNEL}"]')
    ws.write("personas/pirate.toml", card)
    ws.write("recipes/persona-lora.toml", FAST_RECIPE)
    ws.commit("pirate listens to its channel; a short recipe")
    memory = Memory(settings)
    try:
        memory.set_consent(CHANNEL, True, changed_by="discord:admin")
        for i in range(12):
            q, a = PAIRS[i % len(PAIRS)]
            msg = IncomingMessage(transport="discord", channel=CHANNEL, user="discord:7", text=f"{q} ({i})",
                                  message_id=f"m{i}")
            memory.log_incoming(msg)
            memory.log_reply(f"{a} ({i})", to=msg, persona="pirate")  # numbered: harvest keeps no copies
    finally:
        memory.close()
    from skills.personas import load_persona

    return load_persona(settings.workspace_dir, "pirate").system_prompt


def _host(settings, server: FakeOllama, *args: str) -> subprocess.CompletedProcess:
    """`selftune ARGS` on the bot host: no weight library importable, the ray executor, the pulled model."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SELFTUNE_")}
    env.update(SELFTUNE_HOME=str(settings.home), SELFTUNE_BASE_MODEL="tiny", SELFTUNE_EXECUTOR__KIND="ray",
               SELFTUNE_EXECUTOR__RAY_ADDRESS=settings.executor.ray_address,
               SELFTUNE_SCHEDULER__MIN_NEW_CONVERSATIONS="3", SELFTUNE_OLLAMA__HOST=server.host,
               SELFTUNE_OLLAMA__BASE_MODEL="tiny-llama:1m", SELFTUNE_EVAL__MIN_ROWS="2", COLUMNS="200",
               PYTHONPATH=os.pathsep.join([str(NO_TORCH), str(REPO)]))
    return subprocess.run([sys.executable, "-m", "agent.cli.main", *args], env=env, capture_output=True, text=True,
                          timeout=800, cwd=settings.home.parent)


def test_run_now_on_a_torchless_host_trains_gates_and_serves_through_ollama_from_the_gpu_box(
        ray_settings, tiny_model_dir) -> None:
    from skills.export.gguf import converter_missing, parameter_count

    if converter_missing():
        pytest.skip(converter_missing())
    settings = ray_settings
    system = _pirate_listens(settings)
    with FakeOllama() as server:
        server.pull("tiny-llama:1m", "llama", "1M", parameter_count=parameter_count(tiny_model_dir))
        night = _host(settings, server, "schedule", "run-now", "pirate", "--json")
        assert night.returncode == 0, night.stdout + night.stderr
        outcome = json.loads(night.stdout)
        assert outcome["status"] == "promoted", outcome
        assert [s["step"] for s in outcome["steps"]] == ["overlap", "harvest", "dataset", "train",
                                                         "evaluate", "promote", "serve"]
        candidate = outcome["candidate"]
        served_model = f"selftune-pirate:{candidate.replace('/', '-')}".lower()
        created = server.models[served_model]
        assert created["from"] == "tiny-llama:1m" and created["system"] == system
        assert "template" not in created and "files" not in created and len(created["adapters"]) == 1
        assert server.models["selftune-pirate:latest"] is created

        back = _host(settings, server, "rollback", "pirate", "--json")
        assert back.returncode == 0, back.stdout + back.stderr
        plain = server.models["selftune-pirate:latest"]  # the pulled model again, with the persona's SYSTEM
        assert plain is not created and plain["from"] == "tiny-llama:1m" and plain["system"] == system
        assert not plain.get("adapters") and "template" not in plain

    manager = JobManager(settings)
    try:
        jobs = {j.spec.get("kind", "train"): j for j in manager.store.list()}
    finally:
        manager.close()
    # every model step ran on the box's trainer resource; the host got an adapter, a report and a LoRA GGUF back
    assert set(jobs) == {"train", "eval", "export"}, sorted(jobs)
    assert all(j.executor == "ray" and j.resources == {"trainer": 1} and j.state == "succeeded"
               for j in jobs.values())
    assert jobs["export"].spec["lora_only"] and [p.suffix for p in Path(jobs["export"].adapter).glob("*.gguf")]
    report = json.loads((Path(jobs["eval"].adapter) / "eval.json").read_text())
    # the box's report carries its own gate (its eval.min_rows); the host decided again with its settings (above)
    assert report["node"] and report["against"] == "base" and "gate" in report
