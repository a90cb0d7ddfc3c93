"""Short spoken commands are first heard in voice.window_s instead of Whisper's 30 s of padding; a transcript
that is not a clear command is heard again in the full window (the Router's voice path)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from agent.router import Router
from config.settings import Settings
from skills.voice import SAMPLE_RATE, get_model, load_audio, transcribe_file, trim_padding


def padded_features(settings: Settings, audio: np.ndarray) -> np.ndarray:
    """The log-mel window faster-whisper gives the encoder: the clip's frames, zero-padded to 30 s."""
    from faster_whisper.audio import pad_or_trim

    return pad_or_trim(get_model(settings).feature_extractor(audio))


def test_padding_is_cut_to_the_window_only_when_the_speech_fits(settings: Settings, clips: dict[str, Path]) -> None:
    audio = load_audio(clips["rollback.wav"], 60)
    features = padded_features(settings, audio)
    assert features.shape[-1] == 3000 and trim_padding(features, 1000).shape[-1] == 1000
    assert np.array_equal(trim_padding(features, 1000), features[:, :1000])  # the speech itself is kept
    long = padded_features(settings, np.tile(audio, int(12 * SAMPLE_RATE / len(audio)) + 1))
    assert trim_padding(long, 1000).shape[-1] == 3000  # 12 s of speech does not fit in 10 s: untouched


def test_a_clear_command_takes_the_short_window(settings: Settings, clips: dict[str, Path]) -> None:
    asked: list[str] = []
    heard = transcribe_file(clips["rollback.wav"], settings, ["pirate"], accept=lambda t: asked.append(t) or True)
    assert asked == [heard.text] and "pirate" in heard.text.lower()


def test_an_unclear_transcript_is_heard_again_in_the_full_window(settings: Settings, clips: dict[str, Path]) -> None:
    asked: list[str] = []
    heard = transcribe_file(clips["rollback.wav"], settings, ["pirate"], accept=lambda t: asked.append(t) or False)
    assert len(asked) == 1  # the short window's transcript was offered once, then refused
    assert heard == transcribe_file(clips["rollback.wav"], settings, ["pirate"])  # what the 30 s window hears


def test_window_30_decodes_once(settings: Settings, clips: dict[str, Path]) -> None:
    settings.voice.window_s = 30.0
    asked: list[str] = []
    transcribe_file(clips["rollback.wav"], settings, ["pirate"], accept=lambda t: asked.append(t) or True)
    assert asked == []  # the short window is off: one pass, Whisper's own


def test_router_calls_a_command_clear_or_not(settings: Settings) -> None:
    router = Router(settings)
    assert router.heard_command("roll back the pirate adapter")
    assert not router.heard_command("can solve the pirate job")  # the tolerant matcher works on the 30 s transcript
    assert not router.heard_command("tell me a joke about sailing ships")


def test_a_spoken_question_streams_after_the_heard_line(settings: Settings, tmp_path: Path) -> None:
    """Not a command: heard again in the full window, answered by the model word by word, "Heard" line first."""
    from config.messages import Attachment, IncomingMessage
    from tests.eval.fake_openai import ScriptedOpenAI
    from tests.voice.audio import speak

    clip = speak("tell me a story about the sea", tmp_path / "story.wav")
    with ScriptedOpenAI(lambda request: "Once there was a quiet sea.") as server:
        settings.llm = settings.llm.model_copy(update={"provider": "openai", "base_url": server.url, "model": "m",
                                                       "fallback": []})
        pieces: list[str] = []
        reply = Router(settings).handle(IncomingMessage(attachments=[Attachment(filename="story.wav", path=clip)]),
                                        on_token=pieces.append)
    assert reply.intent == "chat" and reply.transcript and pieces[0] == f"Heard: \u201c{reply.transcript}\u201d\n"
    assert "".join(pieces) == reply.text and reply.text.endswith("Once there was a quiet sea.")
    assert server.requests[-1]["stream"] is True
