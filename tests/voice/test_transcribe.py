"""Local Whisper transcription: the CLI contract, accepted formats, and one-sentence failures."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli.main import app
from config.settings import Settings
from skills.voice import VoiceError, is_audio_file, transcribe_file
from tests.voice.audio import add_noise, convert, needs_sox, silence

runner = CliRunner()


def words(text: str) -> set[str]:
    return {w.strip(".,?!").lower() for w in text.split()}


def test_transcribe_json_contract(settings: Settings, clips: dict[str, Path]) -> None:
    result = runner.invoke(app, ["transcribe", str(clips["status.ogg"]), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert set(doc) == {"text", "language", "duration_s", "segments"}
    assert doc["language"] == "en" and 1.0 < doc["duration_s"] < 10.0
    assert {"status", "pirate", "job"} <= words(doc["text"])
    assert all({"start", "end", "text"} == set(s) for s in doc["segments"])


def test_discord_ogg_opus_and_wav_agree(settings: Settings, clips: dict[str, Path]) -> None:
    """A Discord voice message (Ogg Opus 48 kHz) reads like the WAV it came from."""
    ogg = transcribe_file(clips["rollback.ogg"], settings, ["pirate"])
    wav = transcribe_file(clips["rollback.wav"], settings, ["pirate"])
    assert {"roll", "back", "pirate", "adapter"} <= words(ogg.text)
    assert words(ogg.text) == words(wav.text)


@needs_sox
def test_flac_and_noisy_audio(settings: Settings, clips: dict[str, Path], tmp_path: Path) -> None:
    flac = convert(clips["status.wav"], tmp_path / "status.flac")
    assert "pirate" in words(transcribe_file(flac, settings).text)
    noisy = add_noise(clips["rollback.wav"], tmp_path / "noisy.wav", volume=0.02)
    assert {"pirate", "adapter"} <= words(transcribe_file(noisy, settings).text)


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda p: p.write_bytes(b""), "is empty"),
        (lambda p: p.write_bytes(os.urandom(4096)), "not a readable audio file"),
        (lambda p: p.write_text("name,age\nbob,3\n"), "not a readable audio file"),
        (lambda p: silence(p, 3.0), "I heard nothing"),
    ],
    ids=["empty", "corrupt", "text", "silence"],
)
def test_bad_audio_is_one_sentence_exit_1(settings: Settings, tmp_path: Path, make, expected: str) -> None:
    bad = tmp_path / "voice-message.ogg"
    make(bad)
    result = runner.invoke(app, ["transcribe", str(bad), "--json"])
    assert result.exit_code == 1
    assert expected in result.output and "Traceback" not in result.output
    assert result.stdout.strip() == "" or "error" in result.output.lower()


def test_too_long_is_refused_before_decoding(settings: Settings, tmp_path: Path) -> None:
    long_clip = silence(tmp_path / "long.wav", 12.0)
    limited = settings.model_copy(update={"voice": settings.voice.model_copy(update={"max_seconds": 5.0})})
    with pytest.raises(VoiceError, match="12 s long and the limit is 5 s"):
        transcribe_file(long_clip, limited)


def test_missing_file_and_unknown_model(settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(VoiceError, match="does not exist"):
        transcribe_file(tmp_path / "nope.ogg", settings)
    other = settings.model_copy(update={"voice": settings.voice.model_copy(update={"model": "large-v3"})})
    with pytest.raises(VoiceError, match="never downloaded"):
        transcribe_file(silence(tmp_path / "s.wav", 1.0), other)


def test_is_audio_file() -> None:
    assert is_audio_file("voice-message.ogg", "audio/ogg")
    assert is_audio_file("memo.M4A")
    assert not is_audio_file("data.jsonl", "application/json")
