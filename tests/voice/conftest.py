"""Spoken test clips, generated once per session (espeak-ng + PyAV + sox)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.voice.audio import HAVE_ESPEAK, speak, to_ogg_opus

# Phrasings that espeak-ng's robotic voice and tiny.en agree on (see skills/voice.py's prompt note).
COMMANDS = {
    "tune": "train a pirate persona adapter",
    "status": "what's the status of the pirate job",
    "rollback": "roll back the pirate adapter",
}


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """WAV and Discord-style Ogg Opus versions of each spoken command."""
    if not HAVE_ESPEAK:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng); voice tests need it to speak")
    folder = tmp_path_factory.mktemp("voice")
    out: dict[str, Path] = {}
    for intent, text in COMMANDS.items():
        wav = speak(text, folder / f"{intent}.wav")
        out[f"{intent}.wav"] = wav
        out[f"{intent}.ogg"] = to_ogg_opus(wav, folder / f"{intent}.ogg")
    return out
