"""Near duplicates are removed wherever rows are made (harvest, mix, prepare, synth), counted in the manifest."""

from __future__ import annotations

import json
from pathlib import Path

from config.messages import IncomingMessage
from config.settings import Settings
from config.workspace import open_workspace
from memory.store import Memory
from skills.dataset.harvest import harvest_channel
from skills.dataset.io import iter_canonical, write_dataset
from skills.dataset.manifest import read_manifest
from skills.dataset.mix import mix_files
from skills.dataset.sources import DataPlan, prepare
from skills.dataset.synth import SEEDS, load_seeds, run_synth
from tests.datasets.conftest import chat
from tests.datasets.test_synth import llm_settings, server  # noqa: F401 - the scripted LLM fixtures

LONG = "The treasure lies buried under the third palm tree on the northern beach of Skull Island, ten paces east"


def log_exchanges(settings: Settings, channel: str, pairs: list[tuple[str, str]]) -> None:
    """Consented question/answer exchanges of the pirate persona in `channel`."""
    memory = Memory(settings, index_on_log=False)
    try:
        memory.set_consent(channel, True, changed_by="cli:local")
        for i, (question, answer) in enumerate(pairs):
            asked = IncomingMessage(transport="cli", channel=channel, text=question, message_id=f"q{i}")
            memory.log_incoming(asked)
            memory.log_reply(answer, to=asked, persona="pirate", message_id=f"a{i}")
    finally:
        memory.close()


def test_mix_removes_near_duplicates_across_sources(tmp_path: Path) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    write_dataset([chat(f"Where is treasure {i}?", f"{LONG} ({i}).") for i in range(4)], a)
    write_dataset([chat("Where is treasure 0 ?", f"{LONG} (0)!"), chat("Something else", "A different answer.")], b)
    result = mix_files([(a, 1.0), (b, 1.0)], tmp_path / "m.jsonl")
    assert result["duplicates_removed"] == 1
    assert read_manifest(tmp_path / "m.jsonl").duplicates_removed == 1
    assert all("treasure 0 ?" not in r["messages"][0]["content"] for r in iter_canonical(tmp_path / "m.jsonl"))


def test_synth_removes_near_duplicate_rows(llm_settings: Settings, tmp_path: Path) -> None:  # noqa: F811
    seeds = tmp_path / "seeds.txt"
    seeds.write_text("What is the best way to find buried gold on an island?\n"
                     "What is the best way to find buried gold on an island ?!\n"
                     "How do ships float on water?\n")
    result = run_synth(llm_settings, "persona", tmp_path / "s.jsonl", persona="pirate", seeds=seeds, max_rows=3)
    assert result["rows"] == 2 and result["duplicates_removed"] == 1
    assert read_manifest(tmp_path / "s.jsonl").duplicates_removed == 1


def test_harvest_removes_near_duplicate_exchanges(settings: Settings) -> None:
    open_workspace(settings)
    log_exchanges(settings, "deck", [("Where is the treasure of Skull Island?", f"{LONG}."),
                                     ("Which ship is fastest?", "The Black Pearl, matey, by a league."),
                                     ("Where is the treasure of Skull Island??", f"{LONG}!")])
    memory = Memory(settings, index_on_log=False)
    try:
        result = harvest_channel(memory, "deck", persona="pirate")
    finally:
        memory.close()
    assert result.rows == 2 and result.skipped["near_duplicate"] >= 1
    assert read_manifest(result.path).duplicates_removed == result.skipped["near_duplicate"]


def test_prepare_removes_synthetic_rows_that_repeat_harvested_ones(llm_settings: Settings) -> None:  # noqa: F811
    open_workspace(llm_settings)
    seeds = load_seeds(SEEDS)[:10]
    # The scripted LLM answers "Arr matey, <question>": harvest the very same exchanges for the first four seeds.
    log_exchanges(llm_settings, "deck", [(q, f"Arr matey, {q}") for q in seeds[:4]])
    prepared = prepare(llm_settings, DataPlan(channel="deck", synthetic=10), "pirate")
    assert prepared.harvested == 4 and prepared.rows == 10 and prepared.duplicates_removed == 4
    assert read_manifest(prepared.path).duplicates_removed == 4
    answers = [r["messages"][-1]["content"] for r in iter_canonical(prepared.path)]
    assert len(set(answers)) == 10, json.dumps(answers)
