"""The feedback cog: 👍/👎 on one of the assistant's answers is stored as that user's rating (and handed
to memory, where it becomes a chosen/rejected pair); taking the reaction back withdraws it."""

from __future__ import annotations

import asyncio
import logging

import discord
from discord.ext import commands

from agent.discord_bot.services import BotServices
from agent.discord_bot.store import BotStore

log = logging.getLogger(__name__)
RATINGS = {"👍": 1, "👎": -1}


class Feedback(commands.Cog):
    """Reactions as feedback."""

    def __init__(self, bot: commands.Bot, services: BotServices, store: BotStore) -> None:
        self.bot, self.services, self.store = bot, services, store

    @commands.Cog.listener()
    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        """👍/👎 on one of our answers is stored as that user's feedback."""
        await self.rate(payload, RATINGS.get(str(payload.emoji)))

    @commands.Cog.listener()
    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        """Taking the reaction back withdraws the feedback."""
        if str(payload.emoji) in RATINGS:
            await self.rate(payload, None, withdraw=True)

    async def rate(self, payload: discord.RawReactionActionEvent, rating: int | None, withdraw: bool = False) -> None:
        """Store or withdraw a rating on an answer of ours."""
        me = self.bot.user
        if (rating is None and not withdraw) or (me is not None and payload.user_id == me.id):
            return
        if await asyncio.to_thread(self.store.reply, payload.message_id) is None:
            return  # not an assistant answer
        await asyncio.to_thread(self.store.set_feedback, payload.message_id, payload.user_id, rating)
        if rating is not None and self.services.memory is not None:
            await asyncio.to_thread(self._to_memory, payload.message_id, payload.user_id, rating)
        log.info("feedback %s on reply %s from %s", rating, payload.message_id, payload.user_id)

    def _to_memory(self, reply_id: int, user_id: int, rating: int) -> None:
        """Hand a rating to memory (a failure there never loses the stored rating)."""
        assert self.services.memory is not None
        try:
            self.services.memory.feedback(str(reply_id), f"discord:{user_id}", rating)
        except Exception:
            log.warning("could not store feedback on %s in memory", reply_id, exc_info=True)
