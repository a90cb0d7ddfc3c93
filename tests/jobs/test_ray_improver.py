"""With `executor.kind = "ray"` the improver's measurements run on the GPU box: a recipe round (short training runs)
and a persona-prompt round (the served adapter's answers) from a bot-host process where torch, transformers,
peft and trl cannot be imported; the jobs ran on the `trainer` resource and only numbers and texts came back (slow)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from config.workspace import open_workspace
from improver import holdout
from skills.jobs import JobManager
from tests.jobs.two_machine_setup import host_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

HOST = """
import json, sys
from config.settings import load_settings
from config.workspace import open_workspace
from improver.eval_config import from_settings
from improver.loop import Loop
from improver.proposals import Draft

settings = load_settings()


class Planted:
    name = "planted"

    def __init__(self, target):
        self.target = target

    def propose(self, target, history):
        ws = open_workspace(settings)
        if target.startswith("recipe:"):
            path = "recipes/persona-lora.toml"
            return Draft(target=target, generator=self.name,
                         changes={path: ws.read(path).replace("learning_rate = 2e-4", "learning_rate = 3e-4")})
        path = "personas/pirate.toml"
        return Draft(target=target, generator=self.name,
                     changes={path: ws.read(path).replace("friendly pirate", "jolly pirate")})

    def feedback(self, proposal, verdict):
        pass


cfg = from_settings(settings, answerer="local", judge_provider="none", repeats=1, max_prompts=2, max_new_tokens=6,
                    train_steps=3, train_max_length=48, bootstrap=100)
entries = []
for target in ("recipe:persona-lora", "persona:pirate"):
    loop = Loop(settings, generator_for=Planted, eval_config=cfg)
    entries += [e.model_dump(mode="json") for e in loop.run(rounds=1, targets=[target]).entries]
loaded = sorted(m for m in ("torch", "transformers", "peft", "trl") if m in sys.modules)
print(json.dumps({"entries": entries, "loaded": loaded}))
"""


def test_a_recipe_round_and_a_persona_round_measure_on_the_worker(ray_settings, tiny_model_dir) -> None:
    from skills.train.adapters import set_served
    from tests.eval.conftest import train_adapter

    settings = ray_settings
    ws = open_workspace(settings)
    train_adapter(tiny_model_dir, holdout.recipe_rows(settings.holdout_dir, "default")[0],
                  settings.artifacts_dir / "adapters" / "pirate-lora" / "v1", steps=3)
    ws.write("adapters/served.toml", set_served(ws.read("adapters/served.toml"), "pirate", "pirate-lora/v1"))
    ws.commit("serve pirate-lora/v1")
    env = host_env(settings.home, ray_address=settings.executor.ray_address)
    proc = subprocess.run([sys.executable, "-c", HOST], env=env, capture_output=True, text=True, timeout=800,
                          cwd=settings.home.parent)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout.strip().splitlines()[-1])
    assert doc["loaded"] == []
    recipe, persona = doc["entries"]
    # measured (not crashed): a verdict with numbers, whichever way it went
    assert recipe["target"] == "recipe:persona-lora" and recipe["verdict"] in ("accepted", "rejected"), recipe
    assert persona["target"] == "persona:pirate" and persona["verdict"] in ("accepted", "rejected"), persona
    assert recipe["baseline"] is not None and persona["baseline"] is not None
    manager = JobManager(settings)
    try:
        jobs = [j for j in manager.store.list() if j.spec.get("kind") == "measure"]
    finally:
        manager.close()
    assert sorted(j.spec["task"] for j in jobs) == ["answers", "recipe_losses"]
    assert all(j.executor == "ray" and j.resources == {"trainer": 1} and j.state == "succeeded" for j in jobs)
    [answers] = [j for j in jobs if j.spec["task"] == "answers"]
    assert answers.spec["adapter"].endswith("pirate-lora/v1")  # the served adapter travelled; it answered there
    result = json.loads((Path(answers.adapter) / "result.json").read_text())["result"]
    assert len(result) == 2 and len(result[0]) == 1 and len(result[0][0]) == 2  # 2 cards x 1 repeat x 2 prompts
