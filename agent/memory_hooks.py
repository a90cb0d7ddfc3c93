"""Plugs the memory package into a Router: log every exchange, recall related messages for LLM turns.

Nothing here loads the embedding model or opens Chroma for a command: logging writes only SQLite (the source
of truth) and the next recall indexes what is new. In the long-running assistant (`background=True`) a
daemon thread loads the model at start and indexes after each exchange, so recall stays at index speed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from config.messages import IncomingMessage, Reply, reply_kind
from config.settings import Settings

log = logging.getLogger(__name__)
INDEX_POLL_S = 30.0  # the background indexer also wakes this often, in case a wake-up was missed


class MemoryHooks:
    """The Router's `recall` and `log_hook` callables backed by memory.store.Memory."""

    def __init__(self, settings: Settings, persona_of: Callable[[str], str | None] | None = None, *,
                 background: bool = False) -> None:
        self.settings = settings
        self.persona_of = persona_of  # the persona a channel's session talks as (set by router_with_memory)
        self._memory: Any = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        if background:
            self._worker = threading.Thread(target=self._index_in_background, name="memory-indexer", daemon=True)
            self._worker.start()

    @property
    def memory(self) -> Any:
        """The Memory facade, opened once; its log writes defer indexing to recall or the background thread."""
        with self._lock:
            if self._memory is None:
                from memory.store import Memory

                self._memory = Memory(self.settings, index_on_log=False, heal_in_background=self._worker is not None)
            return self._memory

    def recall(self, query: str, channel: str) -> list[str]:
        """Texts of earlier messages in this channel related to the query (none while the index is rebuilt)."""
        from memory.heal import IndexRebuilding

        try:
            hits = self.memory.recall(query, channel=channel, k=self.settings.memory.recall_k)
        except IndexRebuilding:  # the conversation goes on without memory for the minute the rebuild takes
            return []
        return [f"{hit.author}: {hit.text}" for hit in hits if not self._command_exchange(hit.message_id)]

    def _command_exchange(self, message_id: str) -> bool:
        """Whether a message is a command reply, or a request a command reply answered ("talk like the pirate"):
        recalled into a chat turn, a small model copies the switch sentence into every answer after it."""
        kinds = self.memory.conn.execute(
            "SELECT kind FROM messages WHERE role = 'assistant' AND (id = ? OR reply_to = ?)", (message_id, message_id))
        return any(kind not in (None, "chat") for (kind,) in kinds)

    def log(self, message: IncomingMessage, reply: Reply) -> None:
        """Store the person's message and the assistant's reply with its kind and, for answers, who wrote it
        (indexed later, see the module docstring)."""
        logged = self.memory.log_incoming(message, text=reply.transcript or message.text)
        kind = reply_kind(reply)
        persona = adapter = None
        if kind == "chat":
            adapter = reply.args.get("adapter")
            persona = reply.args.get("persona") or (self.persona_of(message.channel) if self.persona_of else None)
        self.memory.log_reply(_answer_text(reply), to=logged, kind=kind, persona=persona, adapter=adapter)
        self._wake.set()

    def _index_in_background(self) -> None:
        """Load the model and open the index now, then index new messages whenever an exchange was logged."""
        from memory.heal import IndexRebuilding

        try:
            self.memory.index.warm()
            self.memory.ensure_index()  # a lost index is rebuilt from the log now, not at the first search
        except IndexRebuilding:
            pass
        except Exception:  # recall reports its own failure when it is used; the bot goes on without it
            log.warning("could not prepare the recall index in the background", exc_info=True)
        while not self._stop.is_set():
            self._wake.wait(timeout=INDEX_POLL_S)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.memory.sync(limit=2000)
            except Exception:  # the log keeps every message; the next recall retries
                log.warning("background indexing failed; messages stay in the log", exc_info=True)

    def close(self) -> None:
        """Stop the background indexer and release the database and Chroma client if they were opened."""
        self._stop.set()
        self._wake.set()
        if self._worker is not None:
            self._worker.join(timeout=10)
        if self._memory is not None:
            self._memory.close()


def router_with_memory(settings: Settings, *, background: bool = False) -> tuple[Any, MemoryHooks]:
    """A Router whose sessions recall from, and log to, the conversation memory."""
    from agent.router import Router

    hooks = MemoryHooks(settings, background=background)
    router = Router(settings, recall=hooks.recall, log_hook=hooks.log)
    hooks.persona_of = lambda channel: channel_persona(settings, router, channel)
    return router, hooks


def channel_persona(settings: Settings, router: Any, channel: str) -> str | None:
    """The persona answering in a channel: the one switched to there, else the card that lists the channel."""
    from skills.personas import persona_for_channel

    session = router.sessions.get(channel)
    if session is not None and session.persona:
        return session.persona
    card = persona_for_channel(settings.workspace_dir, channel)
    return card.name if card else None


def _answer_text(reply: Reply) -> str:
    """The reply as the assistant wrote it: without the 'Heard: …' line a voice message gets in front."""
    if reply.transcript and reply.text.startswith("Heard: ") and "\n" in reply.text:
        return reply.text.split("\n", 1)[1]
    return reply.text
