"""General replay: the share arithmetic, the held-out split left alone, the prompt set kept apart from the
forgetting check, and a persona tune on the tiny model that trains on (and records) its replay rows."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from config.settings import Settings
from skills.dataset.dedup import normalise, seen_in
from skills.dataset.general_prompts import general_prompts, prompt_set_sha256
from skills.evaluate import forgetting
from skills.models import TINY_DIR
from skills.train.events import EventEmitter
from skills.train.replay import add_replay, cache_key, mix, replay_count
from skills.train.spec import Hyper, TrainSpec, parse_sets, sha256_file
from skills.train.worker import load_data, with_replay
from tests.train.conftest import write_jsonl
from tests.train.helpers import FAST, run_inprocess
from tests.train.test_persona_rows import persona_rows


def models_with_tiny(tmp: Path, tiny_model_dir: Path) -> Path:
    """A models folder of its own (so the replay cache starts empty) holding the session's tiny model."""
    models = tmp / "models"
    models.mkdir()
    (models / TINY_DIR).symlink_to(tiny_model_dir, target_is_directory=True)
    return models


def persona_spec(tmp: Path, share: float, method: str = "lora", persona: str | None = "pirate", **hyper) -> TrainSpec:
    data = write_jsonl(tmp / "pirate.jsonl", persona_rows())
    return TrainSpec(name="pirate-lora", base_model="tiny", method=method, persona=persona,
                     system_prompt="You are a pirate.", dataset=data, dataset_sha256=sha256_file(data),
                     output_dir=tmp / "adapters" / "pirate-lora" / "v1", checkpoint_dir=tmp / "job" / "checkpoints",
                     replay_general_share=share, hyper=Hyper(**{**FAST, **hyper}))


@pytest.mark.parametrize(("rows", "share", "expected"), [(30, 0.25, 10), (9, 0.5, 9), (10, 0.0, 0), (3, 0.1, 0),
                                                          (12, 0.9, 108)])
def test_replay_rows_make_the_share_of_the_final_training_rows(rows: int, share: float, expected: int) -> None:
    assert replay_count(rows, share) == expected
    if expected:
        assert abs(expected / (rows + expected) - share) < 0.05
    assert replay_count(400, 0.9, available=250) == 250  # never more than the prompt set holds


def test_mixing_keeps_every_row_in_a_seeded_order() -> None:
    persona = [{"messages": [{"role": "user", "content": f"p{i}"}]} for i in range(8)]
    replay = [{"messages": [{"role": "user", "content": f"r{i}"}]} for i in range(3)]
    mixed = mix(persona, replay, seed=7)
    assert sorted(json.dumps(r) for r in mixed) == sorted(json.dumps(r) for r in persona + replay)
    assert mixed == mix(persona, replay, seed=7)  # a resumed job sees the same order


def test_the_prompt_set_never_repeats_the_forgetting_check() -> None:
    prompts = general_prompts()
    assert len(prompts) >= 200 and len(set(map(normalise, prompts))) == len(prompts)
    checked = [item["question"] for item in forgetting.general_set()] + [q for q, _ in forgetting.FACTS]
    assert not set(map(normalise, prompts)) & set(map(normalise, checked))  # exact (normalised text)
    assert not any(seen_in(checked, prompts, near=True))  # near duplicates (MinHash, the split's rule)
    # The near check does find a reworded check item, so the assertion above is not vacuous.
    assert seen_in(checked, ["What is the capital of France? Answer in a few words please."], near=True) == [True]


def test_replay_goes_into_training_only(tmp_path: Path, tiny_model_dir: Path) -> None:
    models = models_with_tiny(tmp_path, tiny_model_dir)
    spec = persona_spec(tmp_path, 0.25)
    data, files = load_data(spec)
    buf = io.StringIO()
    (train, held_out), mixed_files = with_replay(spec, data, files, tiny_model_dir, models, EventEmitter(buf))
    assert held_out == data[1]  # the held-out split is exactly what it was
    added = replay_count(len(data[0]), 0.25)
    assert len(train) == len(data[0]) + added
    replay = [r for r in train if r["messages"][0]["role"] == "user"]  # persona rows all carry a system prompt
    assert len(replay) == added and all(r["messages"][0]["content"] in general_prompts() for r in replay)
    assert mixed_files.replay["rows"] == added and mixed_files.replay["share_asked"] == 0.25
    cache = models / "replay" / cache_key("tiny", prompt_set_sha256())
    manifest = json.loads((cache / "rows.jsonl.manifest.json").read_text())
    assert manifest["generator"]["model"] == "tiny" and manifest["generator"]["task"] == "replay"
    assert manifest["rows"] == added


@pytest.mark.parametrize(("method", "persona"), [("dpo", "pirate"), ("lora", None)])
def test_replay_is_only_for_persona_sft(tmp_path: Path, method: str, persona: str | None) -> None:
    spec = persona_spec(tmp_path, 0.5, method=method, persona=persona)
    rows = persona_rows()
    assert add_replay(spec, rows, tmp_path / "none", tmp_path / "models") == (rows, None)


def test_the_share_comes_from_settings_and_can_be_set_per_tune() -> None:
    assert Settings(base_model="tiny").train.replay_general_share == 0.0
    assert parse_sets(["replay_general_share=0.25"]) == {"replay_general_share": 0.25}
    with pytest.raises(ValueError):
        Settings(base_model="tiny", train={"replay_general_share": 0.95})


def test_a_persona_tune_trains_on_its_replay_rows_and_records_them(tmp_path: Path, tiny_model_dir: Path) -> None:
    models = models_with_tiny(tmp_path, tiny_model_dir)
    spec = persona_spec(tmp_path, 0.25, max_steps=1)
    rc, events = run_inprocess(spec.save(tmp_path / "spec.json"), models)
    assert rc == 0, events
    start = next(e for e in events if e["event"] == "start")
    manifest = json.loads((Path(events[-1]["adapter_dir"]) / "manifest.json").read_text())
    persona_train = manifest["train_dataset"]["rows"]
    expected = replay_count(persona_train, 0.25)
    assert manifest["replay"]["rows"] == expected > 0
    assert start["train_rows"] == persona_train + expected  # the trainer saw them
    assert start["eval_rows"] == manifest["eval_dataset"]["rows"]  # and the held-out set did not
    assert manifest["replay"]["cache_key"] == cache_key("tiny", prompt_set_sha256())
    # A second tune reuses the cached answers instead of loading the base model to answer again.
    again = spec.model_copy(update={"output_dir": tmp_path / "adapters" / "pirate-lora" / "v2",
                                    "checkpoint_dir": tmp_path / "job2" / "checkpoints"})
    rc, events = run_inprocess(again.save(tmp_path / "spec2.json"), models)
    assert rc == 0, events
    assert not any("answers" in e.get("message", "") for e in events if e["event"] == "message")


def test_the_cli_sets_the_share_per_tune_and_refuses_a_bad_one(settings: Settings, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.test_recipes import _stop, cli, flat, rows_file

    monkeypatch.setenv("SELFTUNE_TRAIN__REPLAY_GENERAL_SHARE", "0.3")  # the setting is every tune's default
    data = str(rows_file(tmp_path))
    for extra, expected in (([], 0.3), (["--set", "replay_general_share=0.25"], 0.25)):
        result = cli("train", "persona-lora", "--persona", "pirate", "--dataset", data, "--max-steps", "1", *extra,
                     "--json")
        assert result.exit_code == 0, result.output
        doc = json.loads(result.stdout)
        try:
            spec = json.loads((settings.home / "jobs" / doc["job_id"] / "spec.json").read_text())
            assert spec["replay_general_share"] == expected
        finally:
            _stop(settings, doc["job_id"])
    bad = cli("train", "persona-lora", "--persona", "pirate", "--dataset", data, "--set", "replay_general_share=0.95")
    assert bad.exit_code == 2 and "replay_general_share" in flat(bad.output) and "Traceback" not in flat(bad.output)
