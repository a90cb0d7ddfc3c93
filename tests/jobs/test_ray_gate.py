"""With `executor.kind = "ray"` the promotion gate's evaluation runs as a job on the GPU box's `trainer`
resource: the host (a process where torch, transformers, peft and trl cannot be imported) ships the candidate,
the adapter it is compared against, the persona card and the eval data, and receives only the report (slow)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from config.workspace import open_workspace
from skills.jobs import JobManager
from skills.train import adapters
from tests.eval.fake_ollama import FakeOllama
from tests.jobs.two_machine_setup import PULLED, host_env, random_pirate_adapter

pytestmark = pytest.mark.slow

HOST = """
import json, sys
from config.settings import load_settings
from skills.evaluate.promotion import forced_promote, gated_promote
outcome = gated_promote(load_settings(), "pirate", "pirate-lora/v2")
if not outcome.promoted:  # random adapters: the gate may keep v1; the Ollama step below needs v2 served
    forced_promote(load_settings(), "pirate", "pirate-lora/v2")
loaded = sorted(m for m in ("torch", "transformers", "peft", "trl") if m in sys.modules)
print(json.dumps({"promotion": outcome.model_dump(), "sentence": outcome.sentence(), "loaded": loaded}))
"""


def test_the_gate_evaluates_on_the_worker_and_the_host_never_loads_a_model(ray_settings, tiny_model_dir) -> None:
    """...and the promoted adapter's LoRA GGUF is made on the worker, then the persona's Ollama model is created
    FROM the pulled model + ADAPTER on the (fake) Ollama server."""
    from skills.export.gguf import parameter_count
    from skills.export.ollama_pulled import adapter_base

    settings = ray_settings
    open_workspace(settings)
    v1 = random_pirate_adapter(settings, tiny_model_dir, "v1", seed=0)
    random_pirate_adapter(settings, tiny_model_dir, "v2", seed=1)
    adapters.promote(settings, "pirate", v1)
    with FakeOllama() as server:
        server.pull(PULLED, "llama", "1M", parameter_count=parameter_count(tiny_model_dir))
        env = host_env(settings.home, ray_address=settings.executor.ray_address, ollama_host=server.host)
        proc = subprocess.run([sys.executable, "-c", HOST], env=env, capture_output=True, text=True, timeout=500,
                              cwd=settings.home.parent)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout.strip().splitlines()[-1])
    assert doc["loaded"] == [] and doc["promotion"]["gated"] and doc["promotion"]["against"] == v1
    assert doc["sentence"].startswith("`pirate-lora/v2`")
    manager = JobManager(settings)
    try:
        [job] = [j for j in manager.store.list() if j.spec.get("kind") == "eval"]
        [export] = [j for j in manager.store.list() if j.spec.get("kind") == "export"]
    finally:
        manager.close()
    assert export.executor == "ray" and export.spec["lora_only"] and export.state == "succeeded"
    [lora] = Path(export.adapter).glob("*.gguf")  # only the adapter came back
    assert adapter_base(lora)[0] == "llama" and lora.stat().st_size < 1_000_000
    created = server.models["selftune-pirate:pirate-lora-v2"]
    assert created["from"] == PULLED and "template" not in created and len(created["adapters"]) == 1
    assert server.models["selftune-pirate:latest"] is created
    assert job.executor == "ray" and job.resources == {"trainer": 1} and job.state == "succeeded"
    assert job.spec["against_adapter"].endswith("pirate-lora/v1") and job.spec["persona_card"]["name"] == "pirate"
    report = json.loads((Path(job.adapter) / "eval.json").read_text())  # what came back to the host
    assert report["against"] == "pirate-lora/v1" and report["persona"] == "pirate" and report["node"]
    assert report["items"] == 2 and report["gate"]["promote"] == doc["promotion"]["promoted"]
    assert report["eval_data"]["overlap"] is not None and "adherence" in report
