"""Spoken commands misheard by construction (no recogniser: the transcript is written here): each one reaches its
skill or asks "Did you mean", never runs another skill, and what only erases is never guessed."""

from __future__ import annotations

import pytest

from agent.fuzzy_intents import hear
from agent.grammar import default_grammar
from agent.router import Router
from agent.sound_examples import Vocabulary, align, may_guess, time_of, words_of
from config.messages import IncomingMessage
from config.settings import Settings
from skills.providers.openai_compat import OpenAIProvider
from skills.registry import load_registry
from tests.agent.conftest import scripted_llm  # noqa: F401 - the scripted chat server fixture
from tests.agent.fake_skills import CALLS
from tests.agent.test_intents import NON_COMMANDS, PERSONAS
from tests.voice.test_misheard import personas, router  # noqa: F401 - the pirate and butler cards, the router

VOCABULARY = Vocabulary(tuple(PERSONAS))
# A near-homophone of one of each guessable built-in skill's declared commands: one or two words sound alike.
MISHEARD = {
    "jobs.status": ["what's the stairs of the pirate job", "so the training stand us"],
    "jobs.cancel": ["can sell the pirate job", "Can't solve the pirate job."],
    "eval.run": ["evil waits the pirate adapter", "The emulator the pirate adapter."],
    "export.run": ["ex port the pirate adapter to a llama", "export the pirate or napp to a llama."],
    "adapters.rollback": ["role back the pirate adapter"],
    "train.submit": ["tuna pirate persona adapter"],
    "schedule.add": ["shed jewel a nightly retrain of pirate at 2am"],
    "schedule.list": ["lift schedules"],
    "improve.journal": ["what did you approve"],
    "improve.run": ["ran an improvement round on skills"],
    "memory.collect": ["start collecting conversations hear"],
    "persona.bind": ["choose the pirate persona in this channel"],
    "persona.create": ["create a person called pirate who talks like a sailor"],
    "persona.edit": ["sat pirate prompt to be brief"],
    "persona.show": ["so the pirate persona"],
}
CASES = [(skill, text) for skill, texts in MISHEARD.items() for text in texts]
ERASING = ["the lead the pirate adapter", "forgot what i said", "for get everything about cats", "the lead all adapters",
           "paws the pirate retrain", "remove the pirate schedule", "we move the butler schedule"]


def heard(text: str):  # noqa: ANN201
    return hear(text, VOCABULARY, Settings().voice, default_grammar())


def test_every_guessable_skill_has_a_misheard_case() -> None:
    """A skill that declares examples and may be guessed gets a near-homophone here (new skills too)."""
    guessable = {s.name for s in load_registry().all() if may_guess(s) and s.origin.startswith("builtin")}
    assert guessable == set(MISHEARD)


@pytest.mark.parametrize(("skill", "text"), CASES)
def test_a_near_homophone_reaches_its_skill_or_asks_about_it(skill: str, text: str) -> None:
    hearing = heard(text)
    assert hearing.action in ("run", "ask") and hearing.guesses[0].intent.skill == skill, hearing


@pytest.mark.parametrize(("skill", "text"), CASES)
def test_a_misheard_command_never_runs_another_skill(skill: str, text: str) -> None:
    """What runs without a question is the skill that was said; any other skill is at most asked about."""
    hearing = heard(text)
    assert hearing.action != "run" or [g.intent.skill for g in hearing.guesses] == [skill], hearing


@pytest.mark.parametrize("text", ERASING)
def test_what_only_erases_is_never_guessed(text: str) -> None:
    names = {g.intent.skill for g in heard(text).guesses}
    assert not names & {"memory.forget", "adapters.delete", "schedule.remove"}, names


@pytest.mark.parametrize("text", [*NON_COMMANDS, "what is the capital of France", "tell me a joke about pirates",
                                  "the weather is nice today", "remind me to call mum"])
def test_chat_stays_chat_when_spoken(text: str) -> None:
    assert heard(text).action == "chat"


def test_sound_alignment_mends_names_and_times() -> None:
    score, values = align("schedule a nightly retrain of {persona} at {at}",
                          words_of("shed jewel a nightly retrain of pie rat at 2 a.m."), VOCABULARY)
    assert values == {"persona": "pirate", "at": "2am"} and score > 0.6
    assert time_of("two pm") == "2pm" and time_of("14:30") == "14:30" and time_of("pirate") is None


def test_close_rivals_are_both_asked_about_and_neither_runs() -> None:
    hearing = heard("the lead the pirate adapter")  # "delete": never guessed; two skills sound about as close
    assert hearing.action == "ask" and len(hearing.guesses) == 2


def test_a_spoken_near_homophone_asks_and_yes_runs_it(router: Router, scripted_llm) -> None:  # noqa: F811
    spoken = IncomingMessage(transport="console", channel="sound", text="The emulator the pirate adapter.", spoken=True)
    asked = router.handle(spoken)
    assert asked.text.startswith("Did you mean: \u201cevaluate the pirate adapter\u201d?"), asked.text
    assert asked.confirm and not CALLS and scripted_llm.requests == []
    done = router.handle(IncomingMessage(transport="console", channel="sound", text="yes"))
    assert done.intent == "eval" and CALLS == [("eval.run", {"adapter": "pirate"})], done.text


def test_a_spoken_status_heard_wrong_runs_and_typed_it_is_chat(router: Router, scripted_llm) -> None:  # noqa: F811
    spoken = router.handle(IncomingMessage(transport="console", channel="a", text="So the training stand us.", spoken=True))
    assert spoken.intent == "status" and CALLS == [("jobs.status", {"job_id": None})], spoken.text
    typed = router.handle(IncomingMessage(transport="console", channel="b", text="So the training stand us."))
    assert typed.intent == "chat" and len(scripted_llm.requests) == 1


def test_a_spoken_different_command_never_runs_without_a_yes(personas: Settings, scripted_llm) -> None:  # noqa: F811
    """Two installed skills sound alike: both are named, nothing runs, "no" leaves it at that."""
    installed = Router(personas, provider=OpenAIProvider("scripted", base_url=scripted_llm.url + "/v1", timeout_s=5))
    asked = installed.handle(IncomingMessage(transport="console", channel="c", text="The lead the pirate adapter.", spoken=True))
    assert "Did you mean: \u201cevaluate the pirate adapter\u201d?" in asked.text, asked.text
    assert "roll back the pirate adapter" in asked.text and asked.confirm
    assert installed.handle(IncomingMessage(transport="console", channel="c", text="no")).text == "OK, I did nothing."
    assert scripted_llm.requests == []
