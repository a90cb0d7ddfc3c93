"""The CLI as a newcomer meets it: help pages without placeholders or template leftovers, `train --help` naming
recipes and formats, a suggestion for an unknown command, misspelled personas as unknown (exit 1) everywhere,
numbers rounded for people, and chat replies without raw JSON."""

from __future__ import annotations

import json
import re

import pytest
import typer
from typer.testing import CliRunner

from agent.cli.main import app
from agent.router import Router
from config.messages import IncomingMessage
from config.workspace import open_workspace
from tests.train.test_adapters import fake_adapter

runner = CliRunner(env={"COLUMNS": "200"})


def all_commands() -> list[tuple[list[str], object]]:
    """Every command with its path: (['eval'], <eval>), (['adapters', 'list'], <list>), ..."""
    found = []

    def walk(cmd, path):
        found.append((path, cmd))
        for name, sub in (getattr(cmd, "commands", None) or {}).items():
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return found


def flat(text: str) -> str:
    """Rendered help as one line of words (table borders and wrapping gone)."""
    return " ".join(text.replace("│", " ").split())


@pytest.mark.parametrize(("path", "cmd"), all_commands(), ids=lambda p: " ".join(p) if isinstance(p, list) else "")
def test_help_has_no_placeholders_braces_or_swallowed_words(path, cmd):
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output and not re.search(r"\{\w+\}", result.output)
    shown = flat(result.output)
    for param in cmd.params:
        text = getattr(param, "help", None)
        if text:  # every word of the help is shown (none eaten as markup) and no double spaces
            assert "  " not in text and flat(text) in shown, (param.name, text)


def test_eval_help_keeps_every_word():
    text = " ".join(runner.invoke(app, ["eval", "--help"]).output.split())
    assert "Usage: selftune eval [OPTIONS] ADAPTER" in text or "eval [OPTIONS] ADAPTER" in text
    assert "Ask the judge model (the judge section of the config)" in text


def test_train_help_lists_recipes_and_formats():
    text = " ".join(runner.invoke(app, ["train", "--help"]).output.split())
    assert "Recipes: dpo, full-small, kto, persona-lora, persona-qlora" in text
    assert "messages, sharegpt, alpaca, dpo, kto" in text


@pytest.mark.parametrize(("typed", "meant"), [("tune", "train"), ("trian", "train"), ("evaluate", "eval")])
def test_an_unknown_command_suggests_the_closest(typed, meant):
    result = runner.invoke(app, [typed])
    assert result.exit_code == 2 and f"Did you mean '{meant}'?" in " ".join(result.output.split())


@pytest.mark.parametrize("args", [["rollback", "pirat"], ["adapters", "promote", "pirat", "pirate-lora/v1"],
                                  ["train", "--persona", "pirat"], ["schedule", "add", "pirat"],
                                  ["serve", "--persona", "pirat"]])
def test_a_misspelled_persona_is_unknown_with_exit_1(settings, args):
    open_workspace(settings)
    fake_adapter(settings, "pirate-lora", "v1")
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert "There is no persona 'pirat' (known: assistant, pirate)" in flat(result.output)


def test_eval_of_a_misspelled_persona_says_it_is_none(settings):
    open_workspace(settings)
    result = runner.invoke(app, ["eval", "pirat", "--json"])
    assert result.exit_code == 1 and "persona" in json.loads(result.stdout)["error"]


def test_adapters_list_rounds_the_loss_and_json_keeps_it(settings):
    folder = settings.artifacts_dir / "adapters" / "pirate-lora" / "v1"
    fake_adapter(settings, "pirate-lora", "v1")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["metrics"]["eval_loss"] = 1.296480417251587
    (folder / "manifest.json").write_text(json.dumps(manifest))
    shown = runner.invoke(app, ["adapters", "list"]).output
    assert "1.296" in shown and "1.2964804" not in shown
    doc = json.loads(runner.invoke(app, ["adapters", "list", "--json"]).stdout)
    assert doc["adapters"][0]["metrics"]["eval_loss"] == 1.296480417251587


def test_rollback_from_chat_is_a_sentence_not_json(settings):
    open_workspace(settings)
    from skills.train import adapters

    adapters.promote(settings, "pirate", fake_adapter(settings, "pirate-lora", "v1"))
    router = Router(settings)
    message = IncomingMessage(text="roll back the pirate", user="local", transport="cli", channel="cli")
    reply = router.handle(message)
    if reply.confirm:  # a change of what a persona serves may ask first
        reply = router.press(message.model_copy(update={"text": "yes"}), reply.confirm, True)
    assert "pirate now serves the base model again (it served pirate-lora/v1)" in reply.text
    assert "{" not in reply.text and '"' not in reply.text


def test_a_result_without_its_own_sentence_reads_as_one(settings):
    from agent.dispatch import describe_result

    text = describe_result("x", {"persona": "pirate", "to": None, "loss": 1.296480417251587, "ok": True,
                                 "commit": "3fa2c1d0" + "0" * 32, "rows": [1, 2]})
    assert text == "Done: persona pirate, to none, loss 1.296, ok yes, commit 3fa2c1d0."
