"""Slash commands for the core intents. Typed, described parameters make Discord's UI; each command
becomes an explicit command for the same Router that handles typed messages."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands

from agent.discord_bot import attachments as files
from agent.discord_bot.auth import allows
from config.errors import PermissionDenied
from config.settings import Permission, Settings

if TYPE_CHECKING:
    from agent.discord_bot.bot import SelftuneBot

AUTH_LIST = {"read": "auth.default_permission", "train": "auth.trainers", "admin": "auth.admins"}


def require(settings: Settings, user: discord.abc.User, needed: Permission) -> None:
    """Raise PermissionDenied (one sentence) unless the user holds `needed`."""
    if not allows(settings, user, needed):
        raise PermissionDenied(
            f"That needs the '{needed}' permission; ask an admin to add discord:{user.id} "
            f"or one of your roles (role:<name>) to {AUTH_LIST[needed]}."
        )


async def run_command(bot: SelftuneBot, interaction: discord.Interaction, text: str) -> None:
    """Acknowledge at once, route the command, post the answer and follow any job it started."""
    from agent.discord_bot.bot import split_text

    await interaction.response.defer(thinking=True)
    reply = await bot.ask(interaction, text)
    attached = [discord.File(p, filename=p.name) for p in reply.attachments if p.is_file()]
    pieces = split_text(reply.text or "…")
    for piece in pieces[:-1]:
        await interaction.followup.send(piece)
    sent = await interaction.followup.send(pieces[-1], files=attached, wait=True)
    await bot.remember(sent, reply, prompt=text, prompt_id=None, asker=interaction.user.id)
    if reply.job_id and interaction.channel is not None:
        bot.follow(reply, interaction.channel, origin=None)


async def collect_status(bot: SelftuneBot, channel_id: int | None) -> str:
    """Whether this channel's conversations may become training data."""
    memory = bot.services.memory
    if memory is None:
        return "Conversation memory is not part of this build, so nothing here is collected."
    on = await asyncio.to_thread(memory.consented, str(channel_id))
    return ("Collection is **on** here: conversations in this channel may become training data."
            if on else "Collection is **off** here: nothing in this channel becomes training data.")


def install(bot: SelftuneBot) -> None:
    """Add the slash commands to the bot's command tree."""
    from agent.discord_bot.bot import command_text

    tree = bot.tree

    @tree.command(name="ask", description="Talk to the assistant.")
    @app_commands.describe(text="What you want to say or ask.")
    async def ask(interaction: discord.Interaction, text: str) -> None:
        await run_command(bot, interaction, text)

    @tree.command(name="tune", description="Fine-tune an adapter for a persona (long job, followed in a thread).")
    @app_commands.describe(persona="Persona card to train, e.g. pirate.", method="Training method.",
                           dataset="A .jsonl/.json dataset file to train on (optional).")
    async def tune(interaction: discord.Interaction, persona: str,
                   method: Literal["lora", "qlora", "dpo", "full"] | None = None,
                   dataset: discord.Attachment | None = None) -> None:
        require(bot.settings, interaction.user, "train")
        path = None
        if dataset is not None:
            stored = await files.accept_dataset(interaction, dataset, bot.settings, bot.services.validate_dataset)
            path = stored.path
        await run_command(bot, interaction, command_text("tune", persona=persona, method=method, dataset=path))

    @tree.command(name="status", description="Show a job's state and progress (the latest job by default).")
    @app_commands.describe(job="Job id (leave empty for the latest).")
    async def status(interaction: discord.Interaction, job: str | None = None) -> None:
        await run_command(bot, interaction, command_text("status", job=job))

    @tree.command(name="cancel", description="Cancel a running or queued job.")
    @app_commands.describe(job="Job id to cancel.")
    async def cancel(interaction: discord.Interaction, job: str) -> None:
        require(bot.settings, interaction.user, "train")
        await run_command(bot, interaction, command_text("cancel", job=job))

    @tree.command(name="eval", description="Evaluate an adapter against its base model.")
    @app_commands.describe(adapter="Adapter id, e.g. pirate/3.")
    async def evaluate(interaction: discord.Interaction, adapter: str) -> None:
        require(bot.settings, interaction.user, "train")
        await run_command(bot, interaction, command_text("eval", adapter=adapter))

    @tree.command(name="export", description="Export an adapter (merged weights, GGUF or an Ollama model).")
    @app_commands.describe(adapter="Adapter id, e.g. pirate/3.", to="Export target.")
    async def export(interaction: discord.Interaction, adapter: str,
                     to: Literal["merged", "gguf", "ollama"] = "ollama") -> None:
        require(bot.settings, interaction.user, "train")
        await run_command(bot, interaction, command_text("export", adapter=adapter, to=to))

    @tree.command(name="rollback", description="Serve a persona's previous adapter again (admins).")
    @app_commands.describe(persona="Persona whose adapter to roll back.")
    async def rollback(interaction: discord.Interaction, persona: str) -> None:
        require(bot.settings, interaction.user, "admin")
        await run_command(bot, interaction, command_text("rollback", persona=persona))

    @tree.command(name="collect", description="Turn learning from this channel on or off, or show its status.")
    @app_commands.describe(state="on: this channel's conversations may train models; off: they may not.")
    async def collect(interaction: discord.Interaction, state: Literal["on", "off", "status"] = "status") -> None:
        if state == "status":
            await interaction.response.send_message(await collect_status(bot, interaction.channel_id))
            return
        require(bot.settings, interaction.user, "admin")
        await run_command(bot, interaction, f"!collect {state}")

    @tree.command(name="forget", description="Forget your own messages in the assistant's memory.")
    async def forget(interaction: discord.Interaction) -> None:
        await run_command(bot, interaction, "!forget me")

    @tree.command(name="help", description="What the assistant can do.")
    async def help_(interaction: discord.Interaction) -> None:
        await run_command(bot, interaction, "!help")
