"""Plugs the memory package into a Router: log every exchange, recall related messages for LLM turns.

Memory (SQLite + Chroma + MiniLM) is opened on first use, so commands that never need it stay fast.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from config.errors import SelftuneError
from config.messages import IncomingMessage, Reply, reply_kind
from config.settings import Settings


class MemoryHooks:
    """The Router's `recall` and `log_hook` callables backed by memory.store.Memory."""

    def __init__(self, settings: Settings, persona_of: Callable[[str], str | None] | None = None) -> None:
        self.settings = settings
        self.persona_of = persona_of  # the persona a channel's session talks as (set by router_with_memory)
        self._memory: Any = None
        self._lock = threading.Lock()

    @property
    def memory(self) -> Any:
        """The Memory facade, opened once."""
        with self._lock:
            if self._memory is None:
                from memory.store import Memory

                self._memory = Memory(self.settings)
            return self._memory

    def recall(self, query: str, channel: str) -> list[str]:
        """Texts of earlier messages in this channel related to the query."""
        hits = self.memory.recall(query, channel=channel, k=self.settings.memory.recall_k)
        return [f"{hit.author}: {hit.text}" for hit in hits]

    def log(self, message: IncomingMessage, reply: Reply) -> None:
        """Store the person's message and the assistant's reply with its kind and, for answers, who wrote it."""
        logged = self.memory.log_incoming(message, text=reply.transcript or message.text)
        kind = reply_kind(reply)
        persona = adapter = None
        if kind == "chat":
            adapter = reply.args.get("adapter")
            persona = reply.args.get("persona") or (self.persona_of(message.channel) if self.persona_of else None)
        self.memory.log_reply(_answer_text(reply), to=logged, kind=kind, persona=persona, adapter=adapter)

    def close(self) -> None:
        """Release the database and Chroma client if they were opened."""
        if self._memory is not None:
            self._memory.close()


def router_with_memory(settings: Settings) -> tuple[Any, MemoryHooks]:
    """A Router whose sessions recall from, and log to, the conversation memory."""
    from agent.router import Router

    hooks = MemoryHooks(settings)
    router = Router(settings, recall=hooks.recall, log_hook=hooks.log)
    hooks.persona_of = lambda channel: channel_persona(settings, router, channel)
    return router, hooks


def channel_persona(settings: Settings, router: Any, channel: str) -> str | None:
    """The persona answering in a channel: the one switched to there, else the card that lists the channel."""
    from skills.personas import list_personas, load_persona

    session = router.sessions.get(channel)
    if session is not None and session.persona:
        return session.persona
    try:
        names = list_personas(settings.workspace_dir)
    except OSError:
        return None
    for name in names:
        try:
            channels = load_persona(settings.workspace_dir, name).channels
        except SelftuneError:  # a broken card answers nowhere; the router skips it the same way
            continue
        if channel in channels or f"#{channel}" in channels:
            return name
    return None


def _answer_text(reply: Reply) -> str:
    """The reply as the assistant wrote it: without the 'Heard: …' line a voice message gets in front."""
    if reply.transcript and reply.text.startswith("Heard: ") and "\n" in reply.text:
        return reply.text.split("\n", 1)[1]
    return reply.text
