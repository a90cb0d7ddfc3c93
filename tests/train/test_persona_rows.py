"""A persona tune trains under its card's system prompt: rows without one get it, and the adapter records how many."""

from __future__ import annotations

import json
from pathlib import Path

from config.settings import Settings
from config.workspace import open_workspace
from skills.jobs.submit import _system_prompt
from skills.personas import load_persona
from skills.train.spec import Hyper, TrainSpec, sha256_file
from skills.train.worker import load_data
from tests.train.conftest import PIRATE, write_jsonl
from tests.train.helpers import FAST, run_inprocess

OWN = "You are a ship's cook."


def persona_rows() -> list[dict]:
    """Twelve rows of distinct prompts; the first two bring a system prompt of their own."""
    rows = []
    for i in range(12):
        q, a = PIRATE[i % len(PIRATE)]
        system = [{"role": "system", "content": OWN}] if i < 2 else []
        rows.append({"messages": [*system, {"role": "user", "content": f"{q} (question {i})"},
                                  {"role": "assistant", "content": a}]})
    return rows


def persona_spec(tmp: Path, card_prompt: str, **hyper) -> TrainSpec:
    data = write_jsonl(tmp / "pirate.jsonl", persona_rows())
    return TrainSpec(name="pirate-lora", base_model="tiny", method="lora", persona="pirate", system_prompt=card_prompt,
                     dataset=data, dataset_sha256=sha256_file(data), output_dir=tmp / "adapters" / "pirate-lora" / "v1",
                     checkpoint_dir=tmp / "job" / "checkpoints", hyper=Hyper(**{**FAST, **hyper}))


def test_training_rows_carry_the_cards_system_prompt(settings: Settings, tmp_path: Path) -> None:
    open_workspace(settings)
    card = load_persona(settings.workspace_dir, "pirate").system_prompt
    assert _system_prompt(settings, "pirate") == card  # what submit puts in the spec
    (train, held_out), files = load_data(persona_spec(tmp_path, card))
    assert len(train) + len(held_out) == 12
    for row in train + held_out:
        assert row["messages"][0]["role"] == "system"
        assert row["messages"][0]["content"] in (card, OWN)  # a row's own system prompt is kept
    assert sum(r["messages"][0]["content"] == OWN for r in train + held_out) == 2
    assert files.system_prompt_added == sum(r["messages"][0]["content"] == card for r in train)


def test_the_adapter_manifest_records_the_added_prompts(tmp_path: Path, tiny_model_dir: Path) -> None:
    spec = persona_spec(tmp_path, "You are a pirate. Say arr.", max_steps=1)
    rc, events = run_inprocess(spec.save(tmp_path / "spec.json"), tiny_model_dir.parent)
    assert rc == 0, events
    manifest = json.loads((Path(events[-1]["adapter_dir"]) / "manifest.json").read_text())
    assert manifest["system_prompt"] == "You are a pirate. Say arr."
    assert 1 <= manifest["system_prompt_added"] <= 10
