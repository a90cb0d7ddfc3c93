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
    "adapters.promote": ["pro mote the pirate adapter"],
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
    assert "(Or, if you meant \u201c" in asked.text and asked.confirm  # the runner-up is named, never run
    assert installed.handle(IncomingMessage(transport="console", channel="c", text="no")).text == "OK, I did nothing."
    assert scripted_llm.requests == []


# --- a voice message that matches nothing -----------------------------------------------------------------


def spoken(text: str, channel: str = "nothing") -> IncomingMessage:
    return IncomingMessage(transport="console", channel=channel, text=text, spoken=True)


@pytest.mark.parametrize("text", ["Frobnicate the butler job.", "Show me the butler.",
                                  "um, the butler job thing"])
def test_a_command_attempt_that_matches_nothing_gets_i_heard(router: Router, scripted_llm, text: str) -> None:  # noqa: F811
    reply = router.handle(spoken(text))
    assert reply.text.startswith(f"I heard \u201c{text}\u201d \u2014 I didn't catch a command; you can say "), reply.text
    assert "\u201cevaluate the butler adapter\u201d" in reply.text  # drawn from the declared examples
    assert reply.confirm is None and CALLS == [] and scripted_llm.requests == []  # no chat answer, nothing run


@pytest.mark.parametrize("text", ["tell me a joke about pirates", "what do you think of the butler",
                                  "export controls are complicated", "the train was late today"])
def test_plain_chat_spoken_gets_a_chat_answer(router: Router, scripted_llm, text: str) -> None:  # noqa: F811
    reply = router.handle(spoken(text))
    assert reply.intent == "chat" and reply.text == "(scripted default reply)" and len(scripted_llm.requests) == 1


ECHO = "You can call this tool. To call one, answer only with <tool_call>{\"name\": ...}</tool_call>"


def test_an_answer_echoing_the_tool_prompt_is_not_sent(router: Router, scripted_llm) -> None:  # noqa: F811
    """A small model answering a short odd transcript with its own instructions: the "I heard" sentence instead,
    and nothing of the echo is streamed."""
    scripted_llm.enqueue(ECHO + " " + "Tools: jobs.status, export.run, eval.run, train.submit. " * 3)
    streamed: list[str] = []
    reply = router.handle(spoken("tell me a joke about pirates"), on_token=streamed.append)
    assert reply.text.startswith("I heard \u201ctell me a joke about pirates\u201d"), reply.text
    assert "call this tool" not in reply.text and streamed == [] and len(scripted_llm.requests) == 1


def test_a_real_answer_to_a_voice_message_still_streams(router: Router, scripted_llm) -> None:  # noqa: F811
    answer = "Why did the pirate cross the sea? " * 6
    scripted_llm.enqueue(answer.strip())
    streamed: list[str] = []
    reply = router.handle(spoken("tell me a joke about pirates"), on_token=streamed.append)
    assert reply.text == answer.strip() and "".join(streamed).strip() == answer.strip()


def test_typed_text_is_never_held_to_the_voice_rules(router: Router, scripted_llm) -> None:  # noqa: F811
    reply = router.handle(IncomingMessage(transport="console", channel="typed", text="blah blah the pirate adapter"))
    assert reply.text == "(scripted default reply)"
