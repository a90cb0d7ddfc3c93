"""Issue 32's done-when, as its users run it: a bot host (its own state dir, a process where torch, transformers,
peft and trl cannot be imported) and a GPU box (a real Ray head on loopback with a `trainer` resource and its own
state dir). `selftune schedule run-now pirate` on the host harvests the consented channel, trains on the box,
evaluates there, gates, promotes, and creates the persona's Ollama model FROM the model the user pulled + ADAPTER,
SYSTEM from the card, no TEMPLATE; `selftune rollback pirate` re-points it. The same kind of host process answers
Discord's `/eval` and a Promote press (dpytest), and makes synthetic data and simulation measurements with the
local model, all of whose model work runs on the box (slow; the session's one Ray head)."""

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
from tests.jobs.two_machine_setup import PULLED, host_env, pirate_listens, random_pirate_adapter

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def _host(settings, server: FakeOllama, *argv: str) -> subprocess.CompletedProcess:
    """`python ARGV` on the bot host: no weight library importable, the ray executor, the pulled model."""
    env = host_env(settings.home, ray_address=settings.executor.ray_address, ollama_host=server.host,
                   SCHEDULER__MIN_NEW_CONVERSATIONS="3", EVAL__MIN_ROWS="2")
    return subprocess.run([sys.executable, *argv], env=env, capture_output=True, text=True, timeout=800,
                          cwd=settings.home.parent)


def _selftune(settings, server: FakeOllama, *args: str) -> subprocess.CompletedProcess:
    """`selftune ARGS` on the bot host."""
    return _host(settings, server, "-m", "agent.cli.main", *args)


def _jobs(settings) -> list:
    manager = JobManager(settings)
    try:
        return manager.store.list()
    finally:
        manager.close()


def test_run_now_on_a_torchless_host_trains_gates_and_serves_through_ollama_from_the_gpu_box(
        ray_settings, tiny_model_dir) -> None:
    from skills.export.gguf import converter_missing, parameter_count

    if converter_missing():
        pytest.skip(converter_missing())
    settings = ray_settings
    system = pirate_listens(settings)
    with FakeOllama() as server:
        server.pull(PULLED, "llama", "1M", parameter_count=parameter_count(tiny_model_dir))
        night = _selftune(settings, server, "schedule", "run-now", "pirate", "--json")
        assert night.returncode == 0, night.stdout + night.stderr
        outcome = json.loads(night.stdout)
        assert outcome["status"] == "promoted", outcome
        assert [s["step"] for s in outcome["steps"]] == ["overlap", "harvest", "dataset", "train",
                                                         "evaluate", "promote", "serve"]
        candidate = outcome["candidate"]
        served_model = f"selftune-pirate:{candidate.replace('/', '-')}".lower()
        created = server.models[served_model]
        assert created["from"] == PULLED and created["system"] == system
        assert "template" not in created and "files" not in created and len(created["adapters"]) == 1
        assert server.models["selftune-pirate:latest"] is created

        back = _selftune(settings, server, "rollback", "pirate", "--json")
        assert back.returncode == 0, back.stdout + back.stderr
        plain = server.models["selftune-pirate:latest"]  # the pulled model again, with the persona's SYSTEM
        assert plain is not created and plain["from"] == PULLED and plain["system"] == system
        assert not plain.get("adapters") and "template" not in plain

    jobs = {j.spec.get("kind", "train"): j for j in _jobs(settings)}
    # every model step ran on the box's trainer resource; the host got an adapter, a report and a LoRA GGUF back
    assert set(jobs) == {"train", "eval", "export"}, sorted(jobs)
    assert all(j.executor == "ray" and j.resources == {"trainer": 1} and j.state == "succeeded"
               for j in jobs.values())
    assert jobs["export"].spec["lora_only"] and [p.suffix for p in Path(jobs["export"].adapter).glob("*.gguf")]
    report = json.loads((Path(jobs["eval"].adapter) / "eval.json").read_text())
    # the box's report carries its own gate (its eval.min_rows); the host decided again with its settings (above)
    assert report["node"] and report["against"] == "base" and "gate" in report


def test_the_torchless_host_answers_discord_eval_and_promote_with_results_from_the_gpu_box(
        ray_settings, tiny_model_dir) -> None:
    """The bot's `/eval` and a "Promote for pirate" press (dpytest) in the same kind of host process: both
    evaluations run as jobs on the box's trainer resource; the host shows their results and never loads a model."""
    from skills.export.gguf import converter_missing, parameter_count

    settings = ray_settings
    open_workspace(settings)
    served = random_pirate_adapter(settings, tiny_model_dir, "v1", seed=0)
    candidate = random_pirate_adapter(settings, tiny_model_dir, "v2", seed=1)
    adapters.promote(settings, "pirate", served)
    with FakeOllama() as server:
        server.pull(PULLED, "llama", "1M", parameter_count=parameter_count(tiny_model_dir))
        bot = _host(settings, server, "-m", "tests.jobs.discord_host", "pirate", candidate)
    assert bot.returncode == 0, bot.stdout + bot.stderr
    answers = json.loads(bot.stdout.strip().splitlines()[-1])
    assert answers["loaded"] == [], answers
    evals = {j.requester: j for j in _jobs(settings) if j.spec.get("kind") == "eval"}
    assert set(evals) == {"eval", "gate"}, sorted(evals)
    assert all(j.executor == "ray" and j.resources == {"trainer": 1} and j.state == "succeeded"
               for j in evals.values())
    # /eval shows the report computed on the box (its items and held-out loss), against the base model
    report = json.loads((Path(evals["eval"].adapter) / "eval.json").read_text())
    assert report["node"] and report["against"] == "base" and report["items"] == 2
    shown = answers["eval"]  # the skill's result as the bot words it, naming the box's job and the host's folder
    assert f"adapter {candidate}" in shown and f"job id {evals['eval'].id}" in shown and "items 2" in shown, shown
    assert f"adapter path {settings.artifacts_dir / 'adapters' / candidate}" in shown, shown
    # the press ran the gate against what pirate serves, on the box; the sentence carries its verdict
    gate = json.loads((Path(evals["gate"].adapter) / "eval.json").read_text())
    assert gate["against"] == served and evals["gate"].spec["persona_card"]["name"] == "pirate"
    promoted = adapters.served_map(settings)["pirate"] == candidate
    assert answers["promote"].startswith(f"`{candidate}` "), answers["promote"]
    assert ("passed the evaluation gate" in answers["promote"]) == promoted
    if promoted and not converter_missing():  # the persona's Ollama model: FROM the pulled model + ADAPTER
        assert server.models[f"selftune-pirate:{candidate.replace('/', '-')}"]["from"] == PULLED


# A bot host's simulation measurement: night 0 (the base) and a night where pirate serves an adapter.
MEASURE_HIDDEN_HOLDOUT = """
import json, sys
from agent.simulate.community import load_community
from agent.simulate.measure import Measurer
from config.settings import load_settings
measurer = Measurer(load_settings(), "pirate", load_community("pirate").rule, tiny=True, max_new_tokens=8)
nights = [measurer.measure(None), measurer.measure(sys.argv[1])]
print(json.dumps({"nights": nights, "loaded": sorted(m for m in ("torch", "transformers", "peft", "trl")
                                                     if m in sys.modules)}))
"""


def test_synthesis_and_simulation_measurements_with_the_local_model_run_on_the_gpu_box(
        ray_settings, tiny_model_dir, tmp_path) -> None:
    """`dataset synth` with the local provider, and `simulate`'s hidden-holdout measurement (answers and the
    forgetting check, base and served adapter), from a host that cannot import torch: the rows, texts and numbers
    come back from jobs on the box's trainer resource."""
    settings = ray_settings
    open_workspace(settings)
    served = random_pirate_adapter(settings, tiny_model_dir, "v1", seed=0)
    env = host_env(settings.home, ray_address=settings.executor.ray_address, LLM__PROVIDER="local", LLM__MODEL="tiny")
    out = tmp_path / "synth.jsonl"
    synth = subprocess.run([sys.executable, "-m", "agent.cli.main", "dataset", "synth", "persona", "--persona", "pirate",
                            "--rows", "2", "--out", str(out), "--json"], env=env, capture_output=True, text=True,
                           timeout=600, cwd=settings.home.parent)
    assert synth.returncode == 0, synth.stdout + synth.stderr
    made = json.loads(synth.stdout)
    assert made["rows"] == 2 and made["model"] and made["complete"], made
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [m["role"] for m in rows[0]["messages"]] == ["user", "assistant"]

    measured = subprocess.run([sys.executable, "-c", MEASURE_HIDDEN_HOLDOUT, served], env=env, capture_output=True,
                              text=True, timeout=600, cwd=settings.home.parent)
    assert measured.returncode == 0, measured.stdout + measured.stderr
    doc = json.loads(measured.stdout.strip().splitlines()[-1])
    assert doc["loaded"] == [], doc
    night0, night1 = doc["nights"]
    assert night0["items"] == night1["items"] == 12 and night0["judge_win_rate"] == 0.5
    assert 0 <= night1["forgetting_accuracy"] <= 1 and isinstance(night1["forgetting_flagged"], bool)
    work = [j for j in _jobs(settings) if j.spec.get("kind") == "model"]
    # synth; night 0: answers + the base's forgetting set; night 1: the adapter's answers + its forgetting set
    assert sorted((j.requester, j.spec["task"]) for j in work) == [
        ("simulate", "answers"), ("simulate", "answers"), ("simulate", "forgetting"), ("simulate", "forgetting"),
        ("synth", "synth")]
    assert all(j.executor == "ray" and j.resources == {"trainer": 1} and j.state == "succeeded" for j in work)
    assert sum(j.spec.get("adapter_id") == served for j in work) == 2
