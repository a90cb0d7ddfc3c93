"""The conversation cog: mentions, DMs, replies to the bot and `!commands` go to the Router, once each
(a reconnect's replayed events are ignored), plus the /ask and /help slash commands."""

from __future__ import annotations

import asyncio
import logging
import re

import discord
from discord import app_commands
from discord.ext import commands

from agent.confirm import answer_of
from agent.discord_bot import attachments as files
from agent.discord_bot.answers import Answers
from agent.discord_bot.auth import allows, needs, sender
from agent.discord_bot.notes import ProgressNote
from agent.discord_bot.services import BotServices, route
from agent.discord_bot.store import BotStore
from agent.discord_bot.streaming import StreamedReply
from agent.discord_bot.text import user_error_text
from agent.discord_bot.uploads import Uploads

log = logging.getLogger(__name__)
MENTION = re.compile(r"<@!?(\d+)>")
DM_REFUSAL = "I only answer direct messages from admins here; please talk to me in a server channel."


class Conversation(commands.Cog):
    """Messages in, the router's replies out."""

    def __init__(self, bot: commands.Bot, services: BotServices, store: BotStore, answers: Answers,
                 uploads: Uploads) -> None:
        self.bot, self.services, self.store, self.answers, self.uploads = bot, services, store, answers, uploads

    def addressed(self, message: discord.Message) -> bool:
        """Whether a message is for us: a DM, a mention, a `!command`, a voice note (they cannot mention
        anyone), or a reply to one of our messages."""
        me = self.bot.user
        if message.guild is None or message.content.startswith("!"):
            return True
        if not message.content and any(files.kind_of(a) == "voice" for a in message.attachments):
            return True
        if me is not None and me in message.mentions:
            return True
        ref = message.reference.resolved if message.reference else None
        if isinstance(ref, discord.Message) and me is not None and ref.author.id == me.id:
            return True
        return self.answers_confirmation(message)

    def answers_confirmation(self, message: discord.Message) -> bool:
        """A bare "yes"/"no" from someone whose confirmation is open in this channel."""
        return answer_of(message.content) is not None and self.services.router.awaits_answer(
            "discord", str(message.channel.id), str(message.author.id))

    def dm_refusal(self, message: discord.Message) -> str | None:
        """Why a DM is not answered under settings.discord.dm_policy, or None when it is."""
        policy = self.services.settings.discord.dm_policy
        if message.guild is not None or policy == "allow":
            return None
        if policy == "admins" and allows(self.services.settings, message.author, "admin"):
            return None
        return DM_REFUSAL

    def clean_text(self, message: discord.Message) -> str:
        """The message text without mentions of the bot."""
        me = self.bot.user.id if self.bot.user else None
        return MENTION.sub(lambda m: "" if int(m.group(1)) == me else m.group(0), message.content).strip()

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        """Answer messages addressed to us, once each, even when a reconnect replays them."""
        if message.author.bot or not self.addressed(message):
            return
        if not await asyncio.to_thread(self.store.claim, message.id, message.channel.id):
            log.info("message %s already handled; ignoring the replay", message.id)
            return
        refusal = self.dm_refusal(message)
        if refusal:
            await message.channel.send(refusal)
            return
        try:
            async with message.channel.typing():
                await self.answer(message)
        except Exception as exc:  # every failure becomes one sentence in Discord
            await message.reply(user_error_text(exc), mention_author=False)

    async def answer(self, message: discord.Message) -> None:
        """Handle attachments, ask the router, post the reply (and follow any job it started)."""
        typed = self.clean_text(message)
        stored, text = await self.uploads.take(message, typed)
        if not text:
            return
        incoming = sender(message.author, message.channel.id, text).model_copy(update={
            "attachments": stored, "message_id": str(message.id), "spoken": not typed,
            "reply_to": str(message.reference.message_id) if message.reference else None})
        interval = self.services.settings.discord.progress_edit_interval_s
        loop = asyncio.get_running_loop()
        note, streamed = ProgressNote(message.channel, interval), StreamedReply(message, interval)
        reply = await route(self.services.router, incoming, note.bind(loop), streamed.bind(loop))
        # The router's thread handed every piece to the loop before its result, so all of them are in by now.
        sent = await streamed.finish(reply) or await self.answers.deliver(message.channel, reply, reference=message)
        await self.answers.remember(sent, reply, prompt=text, prompt_id=message.id, asker=message.author.id,
                                    incoming=incoming)
        if reply.job_id:
            self.answers.follow(reply, message.channel, message)

    @app_commands.command(name="ask", description="Talk to the assistant.")
    @app_commands.describe(text="What you want to say or ask.")
    @needs(None)
    async def ask(self, interaction: discord.Interaction, text: str) -> None:
        """Say something to the assistant."""
        await self.answers.run_text(interaction, text)

    @app_commands.command(name="help", description="What the assistant can do.")
    @needs(None)
    async def help_(self, interaction: discord.Interaction) -> None:
        """What the assistant can do."""
        await self.answers.run_command(interaction, "help")
