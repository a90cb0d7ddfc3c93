"""Files people send the bot: dataset uploads (validated, then stored content-addressed with their
provenance) and voice messages (transcribed locally, then answered like typed text)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import discord
from pydantic import BaseModel, ConfigDict

from agent.discord_bot.services import Transcriber, Validator
from config.errors import SelftuneError
from config.settings import Settings

DATASET_SUFFIXES = (".jsonl", ".json")
VOICE_SUFFIXES = (".ogg", ".oga", ".opus", ".mp3", ".m4a", ".wav")
MAX_ERRORS_SHOWN = 10


class AttachmentRejected(SelftuneError):
    """An uploaded file cannot be used (too big, unreadable, invalid rows)."""


class StoredDataset(BaseModel):
    """A validated upload kept under artifacts/datasets/<sha256>/ with provenance.json beside it."""

    model_config = ConfigDict(extra="forbid")

    path: Path
    sha256: str
    rows: int
    format: str | None = None


def kind_of(attachment: discord.Attachment) -> Literal["dataset", "voice", "other"]:
    """What an attachment is, from Discord's voice flag, its name and its content type."""
    name = attachment.filename.lower()
    if attachment.is_voice_message() or name.endswith(VOICE_SUFFIXES):
        return "voice"
    if (attachment.content_type or "").startswith("audio/"):
        return "voice"
    return "dataset" if name.endswith(DATASET_SUFFIXES) else "other"


async def download(attachment: discord.Attachment, settings: Settings, folder: Path) -> Path:
    """Save an attachment to `folder`, refusing files over settings.discord.max_attachment_mb."""
    limit = int(settings.discord.max_attachment_mb * 1024 * 1024)
    if attachment.size > limit:
        raise AttachmentRejected(_too_big(attachment.filename, settings))
    data = await attachment.read()
    if len(data) > limit:  # the declared size can be missing or wrong
        raise AttachmentRejected(_too_big(attachment.filename, settings))
    path = folder / Path(attachment.filename).name
    await asyncio.to_thread(path.write_bytes, data)
    return path


def _too_big(filename: str, settings: Settings) -> str:
    return (f"`{filename}` is larger than the {settings.discord.max_attachment_mb:g} MB limit "
            "(discord.max_attachment_mb); split it or raise the limit.")


def _field(report: Any, name: str, default: Any = None) -> Any:
    return report.get(name, default) if isinstance(report, dict) else getattr(report, name, default)


def describe_errors(filename: str, report: Any) -> str:
    """'`f.jsonl` has 2 invalid rows of 5: line 2: ...; line 4: ...' for the user."""
    errors = _field(report, "errors", []) or []
    shown = [f"line {_field(e, 'line', '?')}: {_field(e, 'message', 'invalid')}" for e in errors[:MAX_ERRORS_SHOWN]]
    more = f" (and {len(errors) - MAX_ERRORS_SHOWN} more)" if len(errors) > MAX_ERRORS_SHOWN else ""
    invalid = _field(report, "invalid", len(errors))
    return (f"`{filename}` has {invalid} invalid row(s) of {_field(report, 'rows', '?')}: "
            + "; ".join(shown) + more + ". Fix them and upload the file again.")


def store_dataset(path: Path, settings: Settings, provenance: dict[str, Any], report: Any) -> StoredDataset:
    """Copy a valid upload into artifacts/datasets/<sha256>/ and write its provenance next to it."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    folder = settings.artifacts_dir / "datasets" / digest
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / path.name
    if not target.exists():
        shutil.copyfile(path, target)
    rows = int(_field(report, "rows", 0) or 0)
    fmt = _field(report, "format")
    record = {**provenance, "sha256": digest, "rows": rows, "format": fmt, "filename": path.name,
              "stored_at": datetime.now(UTC).isoformat()}
    (folder / "provenance.json").write_text(json.dumps(record, indent=2, default=str), encoding="utf-8")
    return StoredDataset(path=target, sha256=digest, rows=rows, format=fmt)


def provenance_of(source: discord.Message | discord.Interaction, attachment: discord.Attachment) -> dict[str, Any]:
    """Where an upload came from: transport, guild, channel, message (or interaction) and author ids."""
    author = source.author if isinstance(source, discord.Message) else source.user
    return {
        "source": "discord", "guild_id": source.guild.id if source.guild else None,
        "channel_id": source.channel.id if source.channel else None, "message_id": source.id,
        "author_id": author.id, "attachment_id": attachment.id, "uploaded_at": source.created_at.isoformat(),
    }


async def accept_dataset(
    source: discord.Message | discord.Interaction, attachment: discord.Attachment, settings: Settings,
    validate: Validator,
) -> StoredDataset:
    """Download, validate and store one dataset upload; invalid rows raise AttachmentRejected naming them."""
    with tempfile.TemporaryDirectory(prefix="selftune-upload-") as tmp:
        path = await download(attachment, settings, Path(tmp))
        report = await asyncio.to_thread(validate, path)
        if (_field(report, "invalid", 0) or 0) > 0 or _field(report, "errors"):
            raise AttachmentRejected(describe_errors(attachment.filename, report))
        return await asyncio.to_thread(store_dataset, path, settings, provenance_of(source, attachment), report)


async def transcribe_voice(attachment: discord.Attachment, settings: Settings, transcribe: Transcriber) -> str:
    """Transcribe a voice message locally; silence or unreadable audio becomes one clear sentence."""
    with tempfile.TemporaryDirectory(prefix="selftune-voice-") as tmp:
        path = await download(attachment, settings, Path(tmp))
        transcript = await asyncio.to_thread(transcribe, path)
    text = str(_field(transcript, "text", "") or "").strip()
    if not text:
        raise AttachmentRejected("I couldn't hear any words in that voice message; try again closer to the mic.")
    return text
