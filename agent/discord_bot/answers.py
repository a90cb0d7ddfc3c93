"""Posting the router's answers: split to Discord's size with their files, remembered (so reactions on
them become feedback), and any job they started followed in a thread."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import discord

from agent.discord_bot.auth import acknowledge
from agent.discord_bot.services import BotServices, ask, say
from agent.discord_bot.store import BotStore, ReplyRecord
from agent.discord_bot.text import shown_request, split_text
from agent.discord_bot.views import confirm_view
from agent.memory_hooks import channel_persona
from config.messages import IncomingMessage, Reply, reply_kind

log = logging.getLogger(__name__)
Follow = Callable[[Reply, discord.abc.Messageable, "discord.Message | None"], None]


class Answers:
    """Delivers replies for the conversation and the slash commands alike."""

    def __init__(self, services: BotServices, store: BotStore, follow: Follow) -> None:
        self.services, self.store, self.follow = services, store, follow

    async def deliver(
        self, channel: discord.abc.Messageable, reply: Reply, *, reference: discord.Message | None = None
    ) -> discord.Message:
        """Post a reply (split when long) with its file attachments; returns the last message sent."""
        pieces = split_text(reply.text or "…")
        attached = [discord.File(path, filename=path.name) for path in reply.attachments if path.is_file()]
        sent: discord.Message | None = None
        for index, piece in enumerate(pieces):
            last = index == len(pieces) - 1
            kwargs: dict[str, Any] = {"files": attached} if last and attached else {}
            if last and reply.confirm:  # the action waits: Confirm/Cancel buttons beside the typed "yes"
                kwargs["view"] = confirm_view(reply.confirm)
            if reference is not None and index == 0:
                sent = await reference.reply(piece, mention_author=False, **kwargs)
            else:
                sent = await channel.send(piece, **kwargs)
        assert sent is not None  # split_text always yields at least one piece
        return sent

    async def run_command(self, interaction: discord.Interaction[Any], intent: str, **args: Any) -> None:
        """Acknowledge (unless the command's check already did), route the request, post the answer and
        follow any job it started."""
        await acknowledge(interaction)
        await self._answer(interaction, await ask(self.services, interaction, intent, **args), shown_request(intent, args))

    async def run_text(self, interaction: discord.Interaction[Any], text: str) -> None:
        """`/ask`: the text is read by the router as if typed in the channel."""
        await acknowledge(interaction)
        await self._answer(interaction, await say(self.services, interaction, text), text)

    async def _answer(self, interaction: discord.Interaction[Any], reply: Reply, text: str) -> None:
        attached = [discord.File(p, filename=p.name) for p in reply.attachments if p.is_file()]
        pieces = split_text(reply.text or "…")
        for piece in pieces[:-1]:
            await interaction.followup.send(piece)
        extra: dict[str, Any] = {"view": confirm_view(reply.confirm)} if reply.confirm else {}
        sent = await interaction.followup.send(pieces[-1], files=attached, wait=True, **extra)
        await self.remember(sent, reply, prompt=text, prompt_id=None, asker=interaction.user.id)
        if reply.job_id and interaction.channel is not None:
            self.follow(reply, interaction.channel, None)  # type: ignore[arg-type]

    async def remember(self, sent: discord.Message, reply: Reply, *, prompt: str, prompt_id: int | None,
                       asker: int | None, incoming: IncomingMessage | None = None) -> None:
        """Record which message answered which prompt, so reactions on it become feedback."""
        record = ReplyRecord(
            reply_id=sent.id, channel_id=sent.channel.id, prompt_message_id=prompt_id, asker_id=asker,
            prompt=prompt, reply=reply.text, intent=reply.intent, persona=reply.args.get("persona"),
        )
        await asyncio.to_thread(self.store.add_reply, record)
        if self.services.memory is not None and incoming is not None:
            await asyncio.to_thread(self._log_to_memory, incoming, reply, sent.id)

    def _log_to_memory(self, incoming: IncomingMessage, reply: Reply, reply_id: int) -> None:
        """Log the exchange in memory under Discord's ids, so reactions can find the answer later."""
        memory = self.services.memory
        assert memory is not None
        try:
            memory.log_incoming(incoming)
            kind = reply_kind(reply)  # only persona answers to chat turns are ever harvested
            persona = (reply.args.get("persona") or channel_persona(self.services.settings, self.services.router,
                                                                    incoming.channel)) if kind == "chat" else None
            memory.log_reply(reply.text, to=incoming, kind=kind, persona=persona, adapter=reply.args.get("adapter"),
                             message_id=str(reply_id))
        except Exception:  # memory must never cost the user their answer
            log.warning("could not log the exchange in memory", exc_info=True)
