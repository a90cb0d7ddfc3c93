"""One declaration per skill: SKILL.md says how requests reach it, and every way in is built from that.

The example plugin (examples/selftune-hello-skill, installed through its entry point) declares `notes.take`
with examples, a `command` word and a `confirm` sentence; nothing in selftune names it, yet it is reached
by its phrasings in chat and by a Discord slash command, and it asks for a yes first.
"""

from __future__ import annotations

import re
from pathlib import Path

from agent import confirm, dispatch, fuzzy_intents, intents
from agent.grammar import Grammar
from agent.router import Router
from config.messages import IncomingMessage
from config.settings import Settings
from skills.registry import load_registry

REPO = Path(__file__).resolve().parents[2]
SAMPLES = {"persona": "pirate", "adapter": "pirate", "job": "12", "dataset": "#chat", "at": "2am", "query": "cats",
           "text": "hello world", "description": "talks like a pirate", "system_prompt": "be brief",
           "targets": "skill:train.submit"}


def test_every_declared_example_reaches_its_skill_with_its_arguments() -> None:
    registry = load_registry()
    grammar = Grammar(registry)
    checked = 0
    for skill in registry.all():
        for example in skill.declaration.examples:
            intent = grammar.resolve(example.format(**SAMPLES), ["pirate"])
            assert intent.skill == skill.name, (example, intent)
            for slot in re.findall(r"\{(\w+)\}", example):
                assert SAMPLES[slot] in {str(v) for v in intent.args.values()}, (example, slot, intent.args)
            checked += 1
    assert checked >= 30  # built-in skills declare theirs too, not only the plugin


def test_routing_is_built_from_declarations_not_tables() -> None:
    for module, table in ((dispatch, "INTENT_PERMISSION"), (dispatch, "INTENT_SKILLS"), (dispatch, "REQUIRED"),
                          (intents, "RULES"), (intents, "PERSONA_RULES"), (intents, "COMMAND_ALIASES"),
                          (fuzzy_intents, "VERBS"), (confirm, "DESCRIBERS")):
        assert not hasattr(module, table), f"{module.__name__}.{table} is back"


def test_no_selftune_code_names_the_plugins_skills() -> None:
    for package in ("agent", "skills", "improver", "memory", "config"):
        for path in (REPO / package).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            assert "notes.take" not in text and "word_count" not in text, path


def _router(settings: Settings) -> Router:
    settings.auth.trainers.append("discord:7")
    return Router(settings)


def _say(router: Router, text: str, user: str = "7") -> str:
    return router.handle(IncomingMessage(transport="discord", channel="c1", user=user, text=text)).text


def test_a_plugin_skill_is_reached_by_its_phrasing_and_asks_for_a_yes(settings: Settings) -> None:
    router = _router(settings)
    notes = settings.home / "hello-notes.txt"
    asked = router.handle(IncomingMessage(transport="discord", channel="c1", user="7", text="please take a note Buy milk"))
    assert asked.intent == "note" and asked.confirm and "This will add the note \u201cBuy milk\u201d" in asked.text
    assert not notes.exists()
    assert "now holds 1 note" in _say(router, "yes")
    assert notes.read_text(encoding="utf-8") == "Buy milk\n"
    assert "OK, I did nothing" in (_say(router, "note that the boat leaks"), _say(router, "no"))[1]
    assert "needs the 'train' permission" in _say(router, "write down nothing", user="99")  # a reader may not
    assert _say(router, "how many words are in one two three") .startswith("Done:")  # effect-free: no question
    assert notes.read_text(encoding="utf-8") == "Buy milk\n"
