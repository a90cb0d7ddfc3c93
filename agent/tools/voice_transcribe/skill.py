"""voice.transcribe: audio file → text with local Whisper."""

from typing import Any

from skills.context import SkillContext
from skills.paths import ReadPath


def transcribe(path: ReadPath, *, ctx: SkillContext) -> dict[str, Any]:
    """Transcribe the audio file at `path` and return {text, language, duration_s, segments}."""
    from pathlib import Path

    from skills.voice import persona_names, transcribe_file

    return transcribe_file(Path(path), ctx.settings, persona_names(ctx.settings)).model_dump()
