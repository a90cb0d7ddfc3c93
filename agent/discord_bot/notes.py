"""Progress of work done before a reply (synthetic rows being generated for a tune's preview): one message
in the channel, edited at most every `discord.progress_edit_interval_s`, the last step always shown."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import discord

log = logging.getLogger(__name__)


class ProgressNote:
    """A progress callback for the Router that posts, then edits, one message."""

    def __init__(self, channel: discord.abc.Messageable, interval_s: float) -> None:
        self.channel, self.interval_s = channel, interval_s
        self.message: discord.Message | None = None
        self.last = 0.0
        self.loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> ProgressNote:
        """Attach the bot's event loop (the callback runs in the router's worker thread)."""
        self.loop = loop
        return self

    def __call__(self, event: dict[str, Any]) -> None:
        """Show synthesis progress ("rows" of "max_rows"); other events are not shown."""
        rows, total = event.get("rows"), event.get("max_rows")
        if self.loop is None or not isinstance(rows, int):
            return
        final = isinstance(total, int) and rows >= total
        if self.message is not None and not final and time.monotonic() - self.last < self.interval_s:
            return
        self.last = time.monotonic()
        text = f"Generating synthetic rows for the preview: {rows}/{total}"
        try:  # waiting keeps the edits in order; bounded so a stalled Discord never stalls the work for long
            asyncio.run_coroutine_threadsafe(self._show(text), self.loop).result(timeout=10)
        except Exception:  # progress must never cost the user their answer
            log.warning("could not show progress", exc_info=True)

    async def _show(self, text: str) -> None:
        if self.message is None:
            self.message = await self.channel.send(text)
        else:
            await self.message.edit(content=text)
