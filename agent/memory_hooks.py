"""Plugs the memory package into a Router: log every exchange, recall related messages for LLM turns.

Nothing here loads the embedding model or opens Chroma for a command: logging writes only SQLite (the source
of truth) and the next recall indexes what is new. In the long-running assistant (`background=True`) a
daemon thread loads the model at start and indexes after each exchange, so recall stays at index speed.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from config.settings import Settings

log = logging.getLogger(__name__)
INDEX_POLL_S = 30.0  # the background indexer also wakes this often, in case a wake-up was missed


class MemoryHooks:
    """The Router's `recall` and `log_hook` callables backed by memory.store.Memory."""

    def __init__(self, settings: Settings, *, background: bool = False) -> None:
        self.settings = settings
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

                self._memory = Memory(self.settings, index_on_log=False)
            return self._memory

    def recall(self, query: str, channel: str) -> list[str]:
        """Texts of earlier messages in this channel related to the query."""
        hits = self.memory.recall(query, channel=channel, k=self.settings.memory.recall_k)
        return [f"{hit.author}: {hit.text}" for hit in hits]

    def log(self, message: Any, reply: Any) -> None:
        """Store the person's message and the assistant's reply (indexed later, see the module docstring)."""
        logged = self.memory.log_incoming(message, text=reply.transcript or message.text)
        self.memory.log_reply(reply.text, to=logged)
        self._wake.set()

    def _index_in_background(self) -> None:
        """Load the model and open the index now, then index new messages whenever an exchange was logged."""
        try:
            self.memory.index.warm()
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
    return Router(settings, recall=hooks.recall, log_hook=hooks.log), hooks
