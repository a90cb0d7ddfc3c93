"""A spoken command the matcher is unsure of is heard a second time, primed with the declared command phrasings, and
the surer command of the two transcripts is kept (skills.voice.SecondGuess, agent.fuzzy_intents.second_guess); a
command only the primed decode heard is asked about, never run."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.fuzzy_intents import RETRY_AT, command_confidence, command_prompt, second_guess
from agent.grammar import default_grammar
from agent.router import Router
from agent.sound_examples import Vocabulary
from config.messages import IncomingMessage
from config.settings import Settings
from skills.voice import SecondGuess, Transcript, choose_heard, transcribe_file
from tests.agent.conftest import scripted_llm  # noqa: F401 - the scripted chat server fixture
from tests.agent.fake_skills import CALLS
from tests.agent.test_intents import PERSONAS
from tests.voice.audio import needs_espeak, speak
from tests.voice.test_misheard import personas, router  # noqa: F401 - the persona cards, the router

VOCABULARY = Vocabulary(tuple(PERSONAS))


def heard(text: str) -> Transcript:
    return Transcript(text=text, language="en", duration_s=2.0, segments=[])


def pick(*texts: str) -> tuple[str, float]:
    """The transcript kept among alternatives heard in this order, each scored by the real matcher."""
    config, grammar = Settings().voice, default_grammar()
    found = [(heard(t), command_confidence(t, VOCABULARY, config, grammar)) for t in texts]
    best, confidence = choose_heard(found)
    return best.text, confidence


def test_a_clear_command_in_the_second_transcript_wins() -> None:
    assert pick("evil waits the pirate adapter", "evaluate the pirate adapter") == ("evaluate the pirate adapter", 1.0)
    text, confidence = pick("what's the stairs of the pirate job", "what's the status of the pirate job")
    assert text == "what's the status of the pirate job" and confidence == 1.0


def test_the_plain_transcript_stays_unless_the_biased_one_is_surer() -> None:
    assert pick("roll back the pirate adapter", "roll back the pirate adapter.")[0] == "roll back the pirate adapter"
    unsure, _ = pick("the emulator the pirate adapter", "the emulator the pirate adapter.")
    assert unsure == "the emulator the pirate adapter"  # a tie keeps what was heard without the bias
    worse, confidence = pick("evil waits the pirate adapter", "tell me a story about the sea")
    assert worse == "evil waits the pirate adapter" and 0.55 <= confidence < 1.0
    first, second = heard("a"), heard("b")
    assert choose_heard([(first, 0.6), (second, 0.63)]) == (first, 0.6)  # within the margin: no change


def test_the_confidence_is_one_for_the_exact_grammar_and_low_for_chat() -> None:
    config, grammar = Settings().voice, default_grammar()
    assert command_confidence("cancel the pirate job", VOCABULARY, config, grammar) == 1.0
    assert command_confidence("tell me a story about the sea", VOCABULARY, config, grammar) < RETRY_AT
    assert RETRY_AT <= command_confidence("can sell the pirate job", VOCABULARY, config, grammar) < 1.0


def test_the_prompt_is_one_declared_phrasing_per_spoken_skill() -> None:
    grammar = default_grammar()
    prompt = command_prompt(grammar, VOCABULARY)
    assert "Evaluate the pirate adapter." in prompt and "Roll back the pirate adapter." in prompt
    assert "Schedule a nightly retrain of pirate at 2am." in prompt
    assert prompt.count(".") == len(grammar.voices())  # one sentence per skill spoken by voice
    assert "forget" not in prompt.lower() and "delete" not in prompt.lower()  # what only erases is never primed
    assert "{" not in command_prompt(grammar, Vocabulary())  # no persona yet: only phrasings without a name


def counting(second: SecondGuess, calls: list[str]) -> SecondGuess:
    """`second` whose confidence records each transcript it is asked about."""
    def confidence(text: str) -> float:
        calls.append(text)
        return second.confidence(text)
    return second._replace(confidence=confidence)


@needs_espeak
def test_chat_is_decoded_once_and_a_sure_command_too(settings: Settings, tmp_path: Path) -> None:
    second = second_guess(settings.voice, default_grammar(), VOCABULARY)
    for text in ("tell me a story about the sea", "roll back the pirate adapter"):
        calls: list[str] = []
        result = transcribe_file(speak(text, tmp_path / "clip.wav"), settings, list(PERSONAS),
                                 second=counting(second, calls))
        assert result.alternatives == [result.text] and calls == [result.text]  # one full-window decode
        assert result.confidence == 1.0 if "roll" in text else result.confidence < RETRY_AT


@needs_espeak
def test_an_unsure_command_is_heard_again_and_the_surer_kept(settings: Settings, tmp_path: Path) -> None:
    """Any transcript short of a sure command is heard again (sure_at above 1): two decodes; the primed one is kept
    only when surer and, if the plain one was worth asking about, stating the same command."""
    clip = speak("evaluate the pirate adapter", tmp_path / "eval.wav", 185, "en-gb-x-rp+f3")
    second = second_guess(settings.voice, default_grammar(), VOCABULARY)._replace(sure_at=1.01, retry_at=0.0)
    result = transcribe_file(clip, settings, list(PERSONAS), second=second)
    plain, primed = result.alternatives
    assert result.text in (plain, primed) and result.confidence == second.confidence(result.text)
    if result.text != plain:
        assert second.confidence(primed) >= second.confidence(plain) + 0.05
        assert second.command(primed) == second.command(plain) or second.confidence(plain) < second.trusted_at


def test_a_primed_transcript_naming_another_argument_never_replaces_a_guess() -> None:
    """The case tiny.en produced: plain "The emulator the pirate adapter" (a guess worth asking about), primed
    "Evaluate the butler." (the prompt's words): the guess about the pirate stays."""
    second = second_guess(Settings().voice, default_grammar(), VOCABULARY)
    plain, primed = "The emulator the pirate adapter", "Evaluate the butler."
    assert second.confidence(plain) >= second.trusted_at and second.confidence(primed) == 1.0
    assert second.command(primed) != second.command(plain)
    assert second.command(plain) == second.command("evaluate the pirate adapter")


def test_the_router_hears_again_only_when_asked_to(settings: Settings) -> None:
    plain = Router(settings)
    assert plain.second_guess() is not None and "Show me the progress." in plain.second_guess().prompt
    settings.voice.second_decode = False
    assert plain.second_guess() is None


@pytest.mark.parametrize("text", ["evaluate the pirate adapter", "evil waits the pirate adapter"])
def test_words_from_the_primed_decode_never_run_without_a_yes(router: Router, text: str) -> None:  # noqa: F811
    """The Router's decision for a transcript marked ask_first (recogniser-free: the transcript is written here),
    whether the exact grammar or the tolerant matcher reads it."""
    message = IncomingMessage(transport="console", channel="primed", text=text, spoken=True)
    session = router.session(message.channel, message.transport)
    reply, _ = router._handle(message, session, spoken=True, ask_first=True)
    assert reply.kind == "question" and "Did you mean" in reply.text and CALLS == []
    assert router.handle(message.model_copy(update={"text": "yes"})).intent == "eval"
    assert [name for name, _ in CALLS] == ["eval.run"]
    CALLS.clear()
    reply, _ = router._handle(message, session, spoken=True, ask_first=False)  # unmarked: it runs (or asks when unsure)
    assert (CALLS and CALLS[0][0] == "eval.run") or reply.kind == "question"
