"""The datasets cog: files sent with a message. Dataset uploads are validated and stored with their
provenance; voice notes are transcribed locally and echoed, then answered like typed text."""

from __future__ import annotations

import discord
from discord.ext import commands

from agent.discord_bot import attachments as files
from agent.discord_bot.services import BotServices
from config.messages import Attachment


class Uploads(commands.Cog, name="Datasets"):
    """Dataset uploads and voice notes."""

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
        await message.reply(
            f"📦 Stored `{attachment.filename}`: {dataset.rows} valid rows"
            f"{f' ({dataset.format})' if dataset.format else ''}, sha256 `{dataset.sha256[:12]}`.",
            mention_author=False)
        return Attachment(filename=attachment.filename, path=dataset.path, content_type=attachment.content_type,
                          size=attachment.size)
