"""`selftune transcribe AUDIO`: local speech-to-text."""

from __future__ import annotations

from pathlib import Path

import typer

from agent.cli.common import console, emit_json, settings_of


def register(app: typer.Typer) -> None:
    """Add the `transcribe` command."""

    @app.command()
    def transcribe(
        ctx: typer.Context,
        audio: Path = typer.Argument(..., help="Audio file: Ogg Opus voice message, WAV, MP3, M4A or FLAC."),
        as_json: bool = typer.Option(False, "--json", help="Print the text, language, duration and segments as one JSON document."),
    ) -> None:
        """Transcribe an audio file with local Whisper (tiny.en by default; nothing is downloaded)."""
        from skills.voice import persona_names, transcribe_file

        settings = settings_of(ctx)
        result = transcribe_file(audio, settings, persona_names(settings))
        if as_json:
            emit_json(result.model_dump())
        else:
            console.print(result.text, highlight=False)
            console.print(f"[dim]{result.language}, {result.duration_s:.1f} s, {len(result.segments)} segments[/]")
