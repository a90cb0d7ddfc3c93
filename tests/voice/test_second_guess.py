"""A spoken command the matcher is unsure of is heard a second time, with the command vocabulary as hotwords, and
the surer command of the two transcripts is kept (skills.voice.SecondGuess, agent.fuzzy_intents.second_guess)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.fuzzy_intents import ATTEMPT_AT, command_confidence, command_hotwords, second_guess
from agent.grammar import default_grammar
from agent.router import Router
from agent.sound_examples import Vocabulary
from config.settings import Settings
from skills.voice import SecondGuess, Transcript, choose_heard, transcribe_file
from tests.agent.test_intents import PERSONAS
from tests.voice.audio import needs_espeak, speak

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
    assert command_confidence("tell me a story about the sea", VOCABULARY, config, grammar) < ATTEMPT_AT
    assert ATTEMPT_AT <= command_confidence("can sell the pirate job", VOCABULARY, config, grammar) < 1.0


def test_hotwords_are_the_declared_voice_verbs_and_the_persona_names() -> None:
    grammar = default_grammar()
    words = command_hotwords(grammar, VOCABULARY).split(", ")
    for forms, _ in grammar.voices().values():
        assert set(forms) & set(words) or {f.replace("'", "") for f in forms} & {w.replace("'", "") for w in words}
    assert {"tune", "cancel", "evaluate", "export", "roll back", "schedule", *PERSONAS} <= set(words)
    assert "forget" not in words and "delete" not in words  # what only erases is never a bias
    assert len(words) == len({w.replace("'", "") for w in words})


def counting(second: SecondGuess, calls: list[str]) -> SecondGuess:
    """`second` whose confidence records each transcript it is asked about."""
    def confidence(text: str) -> float:
        calls.append(text)
        return second.confidence(text)
    return second._replace(confidence=confidence)


@needs_espeak
@pytest.mark.slow  # two clips, ~15 s on 2 idle cores
def test_chat_is_decoded_once_and_a_sure_command_too(settings: Settings, tmp_path: Path) -> None:
    second = second_guess(settings.voice, default_grammar(), VOCABULARY)
    for text in ("tell me a story about the sea", "roll back the pirate adapter"):
        calls: list[str] = []
        result = transcribe_file(speak(text, tmp_path / "clip.wav"), settings, list(PERSONAS),
                                 second=counting(second, calls))
        assert result.alternatives == [result.text] and calls == [result.text]  # one full-window decode
        assert result.confidence == 1.0 if "roll" in text else result.confidence < ATTEMPT_AT


@needs_espeak
def test_an_unsure_command_is_heard_again_and_the_surer_kept(settings: Settings, tmp_path: Path) -> None:
    """Any transcript short of a sure command is heard again (sure_at above 1): two decodes, the surer kept."""
    clip = speak("evaluate the pirate adapter", tmp_path / "eval.wav", 185, "en-gb-x-rp+f3")
    calls: list[str] = []
    second = second_guess(settings.voice, default_grammar(), VOCABULARY)._replace(sure_at=1.01, attempt_at=0.0)
    result = transcribe_file(clip, settings, list(PERSONAS), second=counting(second, calls))
    assert len(result.alternatives) == 2 and calls == result.alternatives
    scores = [second.confidence(t) for t in result.alternatives]
    assert result.confidence == max(scores) and result.text == result.alternatives[scores.index(max(scores))]


def test_the_router_hears_again_only_when_asked_to(settings: Settings) -> None:
    router = Router(settings)
    assert router.second_guess() is not None and "tune" in router.second_guess().hotwords
    settings.voice.second_decode = False
    assert router.second_guess() is None
