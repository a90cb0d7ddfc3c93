"""Test audio made on the spot: espeak-ng speech, Discord-style Ogg Opus, sox noise and silence."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

HAVE_ESPEAK = shutil.which("espeak-ng") is not None
HAVE_SOX = shutil.which("sox") is not None
needs_espeak = pytest.mark.skipif(not HAVE_ESPEAK, reason="espeak-ng is not installed (apt-get install espeak-ng)")
needs_sox = pytest.mark.skipif(not HAVE_SOX, reason="sox is not installed (apt-get install sox)")


def speak(text: str, out: Path, words_per_minute: int = 150, voice: str | None = None) -> Path:
    """Synthesize speech to a WAV file with espeak-ng (`voice` e.g. 'en-us+f3'; espeak's default otherwise)."""
    chosen = ["-v", voice] if voice else []
    subprocess.run(["espeak-ng", *chosen, "-s", str(words_per_minute), "-w", str(out), text], check=True, timeout=30)
    return out


def to_ogg_opus(wav: Path, out: Path, bit_rate: int | None = None) -> Path:
    """Re-encode as Discord sends voice messages: Ogg container, Opus codec, 48 kHz mono (at `bit_rate` bit/s
    when given, else libopus's default)."""
    import av

    with av.open(str(wav)) as src, av.open(str(out), "w", format="ogg") as dst:
        stream = dst.add_stream("libopus", rate=48_000, layout="mono")
        if bit_rate:
            stream.bit_rate = bit_rate
        resampler = av.audio.resampler.AudioResampler(format="s16", layout="mono", rate=48_000)
        for frame in src.decode(audio=0):
            for resampled in resampler.resample(frame):
                for packet in stream.encode(resampled):
                    dst.mux(packet)
        for packet in stream.encode(None):
            dst.mux(packet)
    return out


def convert(wav: Path, out: Path) -> Path:
    """Convert with sox by extension (flac, mp3 when sox has the handler)."""
    subprocess.run(["sox", "-R", str(wav), str(out)], check=True, timeout=30)
    return out


def add_noise(wav: Path, out: Path, volume: float = 0.02) -> Path:
    """Mix white noise under the speech (the same noise every run: sox -R)."""
    noise = out.with_suffix(".noise.wav")
    info = subprocess.run(["sox", "--i", "-D", str(wav)], capture_output=True, text=True, check=True)
    rate = subprocess.run(["sox", "--i", "-r", str(wav)], capture_output=True, text=True, check=True).stdout.strip()
    subprocess.run(["sox", "-R", "-n", "-r", rate, "-c", "1", str(noise), "synth", info.stdout.strip(),
                    "whitenoise", "vol", str(volume)], check=True, timeout=30)
    subprocess.run(["sox", "-R", "-m", str(wav), str(noise), str(out)], check=True, timeout=30)
    return out


def resample(wav: Path, out: Path, rate: int = 44_100, channels: int = 2) -> Path:
    """Re-record at another rate and channel count (44.1 kHz stereo, as phones and desktop recorders send)."""
    subprocess.run(["sox", "-R", str(wav), "-r", str(rate), "-c", str(channels), str(out)], check=True, timeout=30)
    return out


def silence(out: Path, seconds: float = 3.0) -> Path:
    """A WAV of digital silence (written with the stdlib, no tools needed)."""
    import wave

    with wave.open(str(out), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16_000)
        w.writeframes(b"\x00\x00" * int(16_000 * seconds))
    return out
