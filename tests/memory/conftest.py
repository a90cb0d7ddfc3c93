"""Fixtures: a real Memory (SQLite + Chroma) in the temp state dir, and a little conversation helper."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from config.settings import Settings
from memory.log import LoggedMessage
from memory.store import Memory


@pytest.fixture
def memory(settings: Settings) -> Iterator[Memory]:
    """A Memory on the test's state dir, closed afterwards (the embedding model is cached per process)."""
    mem = Memory(settings)
    yield mem
    mem.close()


@pytest.fixture
def say() -> Callable[..., LoggedMessage]:
    """Build messages a second apart, starting a minute from now (so after any consent the test sets first)."""
    clock = {"t": datetime.now(UTC) + timedelta(minutes=1)}

    def make(text: str, *, role: str = "user", channel: str = "general", author: str | None = None,
             **extra: object) -> LoggedMessage:
        clock["t"] += timedelta(seconds=1)
        who = author or ("assistant" if role == "assistant" else "alice")
        return LoggedMessage(text=text, role=role, channel=channel, author=who, transport="discord",
                             created_at=extra.pop("created_at", None) or clock["t"], **extra)

    return make
