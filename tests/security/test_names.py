"""Persona, adapter, recipe and version names are names, never paths, at every entry point; a persona must
exist where it is looked up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from agent.cli.main import app
from agent.router import Router
from config.errors import NotFound, UsageError
from config.messages import IncomingMessage
from config.names import check_adapter_id, check_name
from config.settings import AuthConfig, Settings
from config.workspace import open_workspace
from skills.context import SkillContext
from skills.personas import load_persona
from skills.registry import load_registry
from skills.train.spec import TrainSpec, spec_from_recipe
from tests.security.conftest import files_under
from tests.train.test_adapters import fake_adapter

BAD = ["../../..", "..", "../pirate", "/etc/passwd", "Pirate", "pi rate", "pirate/../x", "-x", "", "a" * 65,
       "pirate\n", "pira\x00te", "pïrate", "pirate.toml"]
runner = CliRunner()


@pytest.mark.parametrize("value", ["pirate", "a", "persona-lora", "v2", "x_1", "0" * 64])
def test_good_names_pass(value: str) -> None:
    assert check_name(value) == value


@pytest.mark.parametrize("value", BAD)
def test_bad_names_are_one_sentence(value: str) -> None:
    with pytest.raises(UsageError) as refused:
        check_name(value, "persona")
    text = str(refused.value)
    assert "is not a valid persona name" in text and "\n" not in text and "\x00" not in text


def test_adapter_ids_are_name_or_name_slash_version() -> None:
    assert check_adapter_id("pirate-lora/v2") == "pirate-lora/v2"
    for bad in ("../x/v1", "a/b/c", "/abs", "a/", "a/../b"):
        with pytest.raises(UsageError):
            check_adapter_id(bad)


def test_spec_and_persona_lookups_refuse_paths(settings: Settings) -> None:
    ws = open_workspace(settings).path
    with pytest.raises(UsageError, match="not a valid persona name"):
        load_persona(ws, "../../config/defaults/personas/pirate")
    for field in ("name", "persona", "recipe", "version"):
        with pytest.raises(ValidationError, match="is not a valid"):
            TrainSpec.model_validate({"name": "ok", "dataset": "d.jsonl", "output_dir": "out", field: "../../x"})
    for kwargs in ({"persona": "../../.."}, {"name": "../../escape"}, {"version": "../v1"}):
        with pytest.raises(UsageError, match="is not a valid"):
            spec_from_recipe(settings, None, dataset="/dev/null", **kwargs)
    with pytest.raises(UsageError, match="not a valid recipe name"):
        spec_from_recipe(settings, "../../../etc/passwd", dataset="/dev/null")


def test_dotdot_persona_is_refused_everywhere_with_nothing_written(settings: Settings, datasets: Path,
                                                                    mcp_ctx: SkillContext) -> None:
    before = files_under(settings.home.parent, skip=settings.home)
    cli = runner.invoke(app, ["train", "--persona", "../../..", "--dataset", str(datasets / "good.jsonl")])
    assert cli.exit_code == 2 and "not a valid persona name" in cli.output and "Traceback" not in cli.output
    registry = load_registry()
    # An adapter that exists, so that eval.run's refusal is about the persona (the registry finds adapters first).
    evaluated = fake_adapter(settings, "pirate-lora", "v1")
    for name, args in [("train.submit", {"persona": "../../..", "dataset": "good.jsonl"}),
                       ("train.submit", {"recipe": "../../../x", "dataset": "good.jsonl"}),
                       ("dataset.build", {"source": "channel:general", "persona": "../x"}),
                       ("dataset.synth", {"task": "persona", "output": "s.jsonl", "persona": "../../x"}),
                       ("eval.run", {"adapter": "pirate-lora", "persona": "../x"}),
                       ("adapters.rollback", {"persona": "../../.."})]:
        with pytest.raises(UsageError, match="is not a valid"):
            registry.call(name, args, mcp_ctx)
    router = Router(settings.model_copy(update={"auth": AuthConfig(trainers=["discord:42"])}), registry=registry)
    tune = router.handle(IncomingMessage(text="!tune persona=../../.. dataset=good.jsonl", user="42",
                                         transport="discord", channel="c1"))
    assert tune.intent == "tune" and not tune.ok and "not a valid persona name" in tune.text
    trained = settings.artifacts_dir / "adapters"
    assert [p.relative_to(trained).as_posix() for p in trained.glob("*/*")] == [evaluated]  # nothing trained
    assert files_under(settings.home.parent, skip=settings.home) == before


def test_promote_and_rollback_refuse_bad_or_unknown_personas_and_commit_nothing(settings: Settings) -> None:
    adapter = fake_adapter(settings, "pirate-lora", "v1")
    head = open_workspace(settings).repo.head.commit.hexsha
    dotdot = runner.invoke(app, ["adapters", "promote", "../../x", adapter])
    assert dotdot.exit_code == 2 and "not a valid persona name" in dotdot.output
    ghost = runner.invoke(app, ["adapters", "promote", "ghost", adapter])
    assert ghost.exit_code == 1 and "There is no persona 'ghost'" in ghost.output and "Traceback" not in ghost.output
    outside_id = runner.invoke(app, ["adapters", "promote", "pirate", "../../../outside/v1"])
    assert outside_id.exit_code == 1 and "There is no adapter" in outside_id.output
    rollback = runner.invoke(app, ["rollback", "../pirate"])
    assert rollback.exit_code == 2 and "not a valid persona name" in rollback.output
    assert open_workspace(settings).repo.head.commit.hexsha == head
    promoted = runner.invoke(app, ["adapters", "promote", "pirate", adapter])
    assert promoted.exit_code == 0 and open_workspace(settings).repo.head.commit.hexsha != head


def test_promote_of_an_unknown_persona_is_not_found(settings: Settings) -> None:
    from skills.train import adapters

    with pytest.raises(NotFound, match="no persona 'ghost'"):
        adapters.promote(settings, "ghost", fake_adapter(settings, "pirate-lora", "v1"))
    assert adapters.served_map(settings) == {}


def test_a_persona_card_whose_name_is_a_path_is_refused(settings: Settings) -> None:
    from config.errors import ConfigError

    ws = open_workspace(settings).path
    (ws / "personas" / "sly.toml").write_text('name = "../../sly"\nsystem_prompt = "hi"\n')
    with pytest.raises(ConfigError, match="not a valid persona name"):
        load_persona(ws, "sly")


CREATE_REFUSED = ["../x", "CON", "con", "nul", "com1", "pi\u202erate", "\u202epirate", "pi\u200brate", "pirate\ufeff",
                  "pi\u2066rate"]


@pytest.mark.parametrize("value", CREATE_REFUSED)
def test_skills_call_persona_create_refuses_paths_devices_and_invisible_names_in_one_sentence(
        settings: Settings, value: str) -> None:
    personas = open_workspace(settings).path / "personas"  # seeded with the packaged personas
    before = sorted(personas.iterdir())
    args = {"name": value, "description": "talks like a pirate", "system_prompt": "You are a pirate."}
    result = runner.invoke(app, ["skills", "call", "persona.create", "--args", json.dumps(args), "--json"])
    doc = json.loads(result.stdout)
    assert result.exit_code == 2 and doc["ok"] is False, result.output
    assert "is not a valid persona name" in doc["error"] and "Something went wrong" not in doc["error"]
    assert "\n" not in doc["error"] and not any(c in doc["error"] for c in "\u202e\u200b\ufeff\u2066")
    assert sorted(personas.iterdir()) == before  # nothing written


def test_invisible_and_reserved_names_say_why() -> None:
    with pytest.raises(UsageError, match=r"invisible or right-to-left control characters \(U\+202E\)"):
        check_name("pi\u202erate", "persona")
    with pytest.raises(UsageError, match="Windows reserves it for a device"):
        check_name("aux", "recipe")


def test_a_full_width_persona_name_is_created_under_its_normal_form(settings: Settings) -> None:
    args = {"name": "ｃｏｏｋ", "description": "talks like a chef", "system_prompt": "You are a chef."}
    result = runner.invoke(app, ["skills", "call", "persona.create", "--args", json.dumps(args), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["persona"] == "cook"
    assert (settings.workspace_dir / "personas" / "cook.toml").is_file()
