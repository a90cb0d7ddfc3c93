"""The datasets cog: files sent with a message. Dataset uploads are validated and stored with their
provenance; voice notes are transcribed locally and echoed, then answered like typed text. Also the
/dataset validate|stats commands for a file attached to the command."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from agent.discord_bot import attachments as files
from agent.discord_bot.auth import needs
from agent.discord_bot.services import BotServices, run_skill
from agent.discord_bot.text import respond
from config.messages import Attachment


def stored_text(filename: str, dataset: files.StoredDataset) -> str:
    """'📦 Stored `f.jsonl`: 8 valid rows (messages), sha256 `abc…`.'"""
    return (f"📦 Stored `{filename}`: {dataset.rows} valid rows"
            f"{f' ({dataset.format})' if dataset.format else ''}, sha256 `{dataset.sha256[:12]}`.")


def stats_text(filename: str, stats: dict[str, Any]) -> str:
    """A few lines from dataset.stats: rows, turns, lengths, roles, duplicates."""
    turns, chars, tokens = stats.get("turns") or {}, stats.get("chars") or {}, stats.get("tokens")
    dupes = stats.get("duplicates") or {}
    lines = [f"`{filename}` ({stats.get('format')}): {stats.get('rows')} rows",
             f"turns per row: mean {turns.get('mean', 0)}, max {turns.get('max', 0)}",
             f"characters per row: mean {chars.get('mean', 0)}, p95 {chars.get('p95', 0)}"]
    if tokens:
        lines.append(f"tokens per row: mean {tokens.get('mean', 0)}, p95 {tokens.get('p95', 0)}, max {tokens.get('max', 0)}")
    roles = ", ".join(f"{role} {count}" for role, count in (stats.get("roles") or {}).items())
    lines += [f"messages by role: {roles or 'none'}",
              f"duplicates: {dupes.get('exact', 0)} exact, {dupes.get('near', 0)} near"]
    return "\n".join(lines)


class Uploads(commands.GroupCog, name="Datasets", group_name="dataset",
              group_description="Check a dataset file before training on it."):
    """Dataset uploads and voice notes, and /dataset."""

    def __init__(self, services: BotServices) -> None:
        self.services = services

    async def take(self, message: discord.Message, text: str) -> tuple[list[Attachment], str]:
        """Store dataset uploads and transcribe voice; returns the stored files and the text to route."""
        stored: list[Attachment] = []
        for attachment in message.attachments:
            kind = files.kind_of(attachment)
            if kind == "voice":
                text = f"{text} {await self.hear(message, attachment)}".strip()
            elif kind == "dataset":
                stored.append(await self.store(message, attachment))
        return stored, text

    async def hear(self, message: discord.Message, attachment: discord.Attachment) -> str:
        """Transcribe a voice note and echo what was heard."""
        heard = await files.transcribe_voice(attachment, self.services.settings, self.services.transcribe)
        await message.reply(f"🎙️ I heard: “{heard}”", mention_author=False)
        return heard

    async def store(self, message: discord.Message, attachment: discord.Attachment) -> Attachment:
        """Validate and store a dataset upload, and say so."""
        dataset = await files.accept_dataset(message, attachment, self.services.settings,
                                             self.services.validate_dataset)
        await message.reply(stored_text(attachment.filename, dataset), mention_author=False)
        return Attachment(filename=attachment.filename, path=dataset.path, content_type=attachment.content_type,
                          size=attachment.size)

    async def accept(self, interaction: discord.Interaction, file: discord.Attachment) -> files.StoredDataset | None:
        """Validate and store a file attached to a command; invalid rows are answered (with their lines), not raised."""
        try:
            return await files.accept_dataset(interaction, file, self.services.settings, self.services.validate_dataset)
        except files.AttachmentRejected as exc:
            await respond(interaction, str(exc))
            return None

    @app_commands.command(name="validate", description="Check every row of a dataset file; valid files are stored.")
    @app_commands.describe(file="A .jsonl/.json dataset (alpaca, ShareGPT, OpenAI messages, DPO, KTO).")
    @needs("dataset.validate")
    async def validate(self, interaction: discord.Interaction, file: discord.Attachment) -> None:
        """Validate (and store) an attached dataset."""
        dataset = await self.accept(interaction, file)
        if dataset is not None:
            await respond(interaction, f"{stored_text(file.filename, dataset)} Train on it with /tune.")

    @app_commands.command(name="stats", description="Rows, turns, lengths and duplicates of a dataset file.")
    @app_commands.describe(file="A .jsonl/.json dataset.",
                           tokens="Also count tokens with the base model's chat template (slower).")
    @needs("dataset.validate")
    async def stats(self, interaction: discord.Interaction, file: discord.Attachment, tokens: bool = False) -> None:
        """Statistics of an attached dataset (the dataset.stats skill, as the caller)."""
        dataset = await self.accept(interaction, file)
        if dataset is not None:
            stats = await run_skill(self.services, interaction, "dataset.stats",
                                    {"path": str(dataset.path), "tokens": tokens})
            await respond(interaction, stats_text(file.filename, stats))
