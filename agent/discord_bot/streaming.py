"""A chat answer streamed into Discord: one reply posted at the first words, edited at most every
`discord.progress_edit_interval_s` while the model writes (Discord rate-limits edits), and a final edit with
the full answer (the rest in follow-up messages when it is longer than one Discord message).

An answer complete within one interval of the message is posted once, whole, like any other reply: streaming
only pays off when the model is slow, and then the first words are posted as soon as they come."""

from __future__ import annotations

import asyncio
import logging
import time

import discord

from agent.discord_bot.progress import ThrottledMessage
from agent.discord_bot.text import DISCORD_LIMIT, split_text
from agent.streaming import StreamedText
from config.messages import Reply

log = logging.getLogger(__name__)
MORE = " …"


class StreamedReply:
    """An `on_token` sink for the Router (called from its worker thread) that shows the answer as it grows."""

    def __init__(self, reference: discord.Message, interval_s: float) -> None:
        self.reference, self.interval_s = reference, interval_s
        self.text = StreamedText(lambda _piece: None)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.opening: asyncio.Task[None] | None = None
        self.posting = False  # the first post has begun (before that, a finished answer cancels it)
        self.shown: ThrottledMessage | None = None
        self.started = time.monotonic()

    def bind(self, loop: asyncio.AbstractEventLoop) -> StreamedReply:
        """Attach the bot's event loop; pieces are handed to it in the order they came."""
        self.loop = loop
        return self

    def __call__(self, piece: str) -> None:
        """Take one piece from the router's thread (never blocks the model on Discord)."""
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self._add, piece)

    def _add(self, piece: str) -> None:
        self.text(piece)
        if self.shown is not None:
            self.shown.update(_preview(self.text.text))
        elif self.opening is None and self.text.started:
            self.opening = asyncio.create_task(self._open())

    async def _open(self) -> None:
        await asyncio.sleep(max(0.0, self.started + self.interval_s - time.monotonic()))
        self.posting = True
        message = await self.reference.reply(_preview(self.text.text), mention_author=False)
        self.shown = ThrottledMessage(message, self.interval_s)
        self.shown.update(_preview(self.text.text))  # words that came while it was being posted

    async def finish(self, reply: Reply) -> discord.Message | None:
        """Edit in the full answer and return the last message; None when nothing was streamed."""
        if self.opening is None:
            return None
        if not self.posting:  # the whole answer came within the first interval: post it the ordinary way
            self.opening.cancel()
            return None
        try:
            await self.opening
        except discord.HTTPException:  # the first post failed: the answer is posted the ordinary way
            log.warning("could not post the streamed answer", exc_info=True)
            return None
        assert self.shown is not None
        pieces = split_text(reply.text or "…")
        await self.shown.settle(pieces[0], skip_same=True)
        last = self.shown.message
        for piece in pieces[1:]:
            last = await self.reference.channel.send(piece)
        return last


def _preview(text: str) -> str:
    """The answer so far, cut to one Discord message while it is still being written."""
    return text if len(text) <= DISCORD_LIMIT else text[: DISCORD_LIMIT - len(MORE)] + MORE
