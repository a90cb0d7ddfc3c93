"""Plugs the memory package into a Router: log every exchange, recall related messages for LLM turns.

Memory (SQLite + Chroma + MiniLM) is opened on first use, so commands that never need it stay fast.
"""

from __future__ import annotations

import threading
from typing import Any

from config.settings import Settings


class MemoryHooks:
    """The Router's `recall` and `log_hook` callables backed by memory.store.Memory."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
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

    def log(self, message: Any, reply: Any) -> None:
        """Store the person's message and the assistant's reply."""
        logged = self.memory.log_incoming(message, text=reply.transcript or message.text)
        self.memory.log_reply(reply.text, to=logged)

    def close(self) -> None:
        """Release the database and Chroma client if they were opened."""
        if self._memory is not None:
            self._memory.close()


def router_with_memory(settings: Settings) -> tuple[Any, MemoryHooks]:
    """A Router whose sessions recall from, and log to, the conversation memory."""
    from agent.router import Router

    hooks = MemoryHooks(settings)
    return Router(settings, recall=hooks.recall, log_hook=hooks.log), hooks
