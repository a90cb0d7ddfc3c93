"""With `executor.kind = "ray"` the promotion gate's evaluation runs as a job on the GPU box's `trainer`
resource: the host (a process where torch, transformers, peft and trl cannot be imported) ships the candidate,
the adapter it is compared against, the persona card and the eval data, and receives only the report (slow)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from config.workspace import open_workspace
from skills.jobs import JobManager
from skills.train import adapters
from tests.eval.fake_ollama import FakeOllama

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
NO_TORCH = REPO / "tests" / "agent" / "no_torch"
ROWS = [("What is the capital of France?", "Arr matey, Paris it be!"), ("How are you?", "Arr, I be fine, matey!"),
        ("Say hello.", "Ahoy matey! Arr!"), ("What is 2 plus 2?", "Arr, 4 it be, matey!")]

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


def _lines(rows: list[tuple[str, str]]) -> str:
    return "".join(json.dumps({"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]})
                   + "\n" for q, a in rows)


def _adapter(settings, tiny_model_dir: Path, version: str, seed: int) -> str:
    """A random LoRA on the tiny model, registered as pirate-lora/<version> with its train/eval split inside."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    dest = settings.artifacts_dir / "adapters" / "pirate-lora" / version
    get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model_dir),
                   LoraConfig(r=2, target_modules=["q_proj", "v_proj"], init_lora_weights=False)).save_pretrained(dest)
    (dest / "data").mkdir()
    (dest / "data" / "train.jsonl").write_text(_lines(ROWS[:2]))
    (dest / "data" / "eval.jsonl").write_text(_lines(ROWS[2:]))
    manifest = {"name": "pirate-lora", "version": version, "base_model": "tiny", "method": "lora",
                "persona": "pirate", "dataset_sha256": "0" * 64, "recipe": "persona-lora", "metrics": {},
                "train_dataset": {"path": str(dest / "data" / "train.jsonl")},
                "eval_dataset": {"path": str(dest / "data" / "eval.jsonl")}, "created_at": "2026-12-07T00:00:00Z"}
    (dest / "manifest.json").write_text(json.dumps(manifest))
    return f"pirate-lora/{version}"


def test_the_gate_evaluates_on_the_worker_and_the_host_never_loads_a_model(ray_settings, tiny_model_dir) -> None:
    """...and the promoted adapter's LoRA GGUF is made on the worker, then the persona's Ollama model is created
    FROM the pulled model + ADAPTER on the (fake) Ollama server."""
    from skills.export.gguf import parameter_count
    from skills.export.ollama_pulled import adapter_base

    settings = ray_settings
    open_workspace(settings)
    v1 = _adapter(settings, tiny_model_dir, "v1", 0)
    _adapter(settings, tiny_model_dir, "v2", 1)
    adapters.promote(settings, "pirate", v1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SELFTUNE_")}
    with FakeOllama() as server:
        server.pull("tiny-llama:1m", "llama", "1M", parameter_count=parameter_count(tiny_model_dir))
        env.update(SELFTUNE_HOME=str(settings.home), SELFTUNE_BASE_MODEL="tiny", SELFTUNE_EXECUTOR__KIND="ray",
                   SELFTUNE_EXECUTOR__RAY_ADDRESS=settings.executor.ray_address,
                   SELFTUNE_OLLAMA__HOST=server.host, SELFTUNE_OLLAMA__BASE_MODEL="tiny-llama:1m",
                   PYTHONPATH=os.pathsep.join([str(NO_TORCH), str(REPO)]))
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
    assert created["from"] == "tiny-llama:1m" and "template" not in created and len(created["adapters"]) == 1
    assert server.models["selftune-pirate:latest"] is created
    assert job.executor == "ray" and job.resources == {"trainer": 1} and job.state == "succeeded"
    assert job.spec["against_adapter"].endswith("pirate-lora/v1") and job.spec["persona_card"]["name"] == "pirate"
    report = json.loads((Path(job.adapter) / "eval.json").read_text())  # what came back to the host
    assert report["against"] == "pirate-lora/v1" and report["persona"] == "pirate" and report["node"]
    assert report["items"] == 2 and report["gate"]["promote"] == doc["promotion"]["promoted"]
    assert report["eval_data"]["overlap"] is not None and "adherence" in report
