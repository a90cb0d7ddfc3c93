"""The admin cog: consent to learn from a channel (/collect), forgetting (/forget) and rollback."""

from __future__ import annotations

import asyncio
from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from agent.discord_bot import choices
from agent.discord_bot.answers import Answers
from agent.discord_bot.auth import needs, require
from agent.discord_bot.services import BotServices

COLLECT_ARGS = {"on": {"enabled": True}, "off": {"enabled": False}}

class Admin(commands.Cog):
    """Consent, forgetting and rollback."""

    def __init__(self, services: BotServices, answers: Answers) -> None:
        self.services, self.answers = services, answers

    async def collect_status(self, channel_id: int | None) -> str:
        """Whether this channel's conversations may become training data."""
        memory = self.services.memory
        if memory is None:
            return "Conversation memory is not part of this build, so nothing here is collected."
        on = await asyncio.to_thread(memory.consented, str(channel_id))
        return ("Collection is **on** here: conversations in this channel may become training data."
                if on else "Collection is **off** here: nothing in this channel becomes training data.")

    @app_commands.command(name="collect", description="Turn learning from this channel on or off, or show its status.")
    @app_commands.describe(state="on: this channel's conversations may train models; off: they may not.")
    async def collect(self, interaction: discord.Interaction,
                      state: Literal["on", "off", "status"] = "status") -> None:
        """Consent for this channel (showing it is open to everyone, changing it needs the router's 'collect')."""
        if state == "status":
            await interaction.response.send_message(await self.collect_status(interaction.channel_id))
            return
        require(self.services.settings, self.services.router.registry, interaction.user, "memory.collect")
        await self.answers.run_command(interaction, "collect", **COLLECT_ARGS[state])

    @app_commands.command(name="forget", description="Forget your own messages in the assistant's memory.")
    @needs("memory.forget")
    async def forget(self, interaction: discord.Interaction) -> None:
        """Forget the caller's messages."""
        await self.answers.run_command(interaction, "forget", scope="me")

    @app_commands.command(name="rollback", description="Serve a persona's previous adapter again (admins).")
    @app_commands.describe(persona="Persona whose adapter to roll back.")
    @app_commands.autocomplete(persona=choices.personas)
    @needs("adapters.rollback")
    async def rollback(self, interaction: discord.Interaction, persona: str) -> None:
        """Serve the previous adapter again."""
        await self.answers.run_command(interaction, "rollback", persona=persona)
