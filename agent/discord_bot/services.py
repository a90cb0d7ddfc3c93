"""What the bot needs from the rest of selftune, as small injectable seams.

Each seam has a default that reaches the real part lazily (router, job manager, dataset
validation, voice), so a part that is not installed yields one clear sentence, not an import error.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from config.errors import SelftuneError
from config.messages import IncomingMessage, Reply
from config.settings import Settings


class RouterLike(Protocol):
    """The agent's Router: one message in, one reply out (blocking; the bot calls it in a thread)."""

    def handle(self, message: IncomingMessage) -> Reply: ...


class JobFeed(Protocol):
    """Where a job's events come from (skills.jobs.JobManager fits)."""

    def follow(self, job_id: str) -> AsyncIterator[Any]: ...

    def cancel(self, job_id: str) -> Any: ...


Validator = Callable[[Path], Any]  # path -> report with rows/valid/invalid/errors[{line, message}]
Transcriber = Callable[[Path], Any]  # path -> transcript with .text (and .language, .duration_s)
Promoter = Callable[[str, str], Any]  # (persona, adapter_id) -> anything


class PartMissing(SelftuneError):
    """A part of selftune the bot would call is not installed in this build."""


def _default_jobs(settings: Settings) -> JobFeed | None:
    try:
        from skills.jobs import JobManager  # type: ignore[attr-defined]
    except ImportError:
        return None
    return JobManager(settings)


def _default_validator(settings: Settings) -> Validator:
    def validate(path: Path) -> Any:
        try:
            from skills.dataset.validate import validate_file  # type: ignore[import-not-found]
        except ImportError:
            raise PartMissing("Dataset validation is not part of this build yet; upload again later.") from None
        return validate_file(path)

    return validate


def _default_transcriber(settings: Settings) -> Transcriber:
    def transcribe(path: Path) -> Any:
        try:
            from skills.voice import transcribe_file  # type: ignore[import-not-found]
        except ImportError:
            raise PartMissing("Voice messages are not supported in this build yet; please type instead.") from None
        return transcribe_file(path, settings)

    return transcribe


def _default_promoter(settings: Settings) -> Promoter:
    def promote(persona: str, adapter_id: str) -> Any:
        try:
            from skills.train.adapters import promote as promote_adapter  # type: ignore[import-not-found]
        except ImportError:
            raise PartMissing("Adapter promotion is not part of this build yet.") from None
        return promote_adapter(settings, persona, adapter_id)

    return promote


def _default_memory(settings: Settings) -> Any | None:
    try:
        from memory.store import Memory
    except ImportError:
        return None
    return Memory(settings)


@dataclass
class BotServices:
    """The parts the bot calls; tests pass stand-ins, `for_settings` wires the real ones."""

    router: RouterLike
    jobs: JobFeed | None = None
    validate_dataset: Validator | None = None
    transcribe: Transcriber | None = None
    promote: Promoter | None = None
    memory: Any | None = None  # memory.store.Memory: reply log with Discord ids, feedback, consent status
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def for_settings(cls, settings: Settings, router: RouterLike | None = None) -> BotServices:
        """The real parts, each imported lazily."""
        if router is None:
            from agent.router import Router

            router = Router(settings)
        return cls(
            router=router, jobs=_default_jobs(settings), validate_dataset=_default_validator(settings),
            transcribe=_default_transcriber(settings), promote=_default_promoter(settings),
            memory=_default_memory(settings),
        )

    def fill_defaults(self, settings: Settings) -> None:
        """Give every unset seam its real default."""
        self.jobs = self.jobs if self.jobs is not None else _default_jobs(settings)
        self.validate_dataset = self.validate_dataset or _default_validator(settings)
        self.transcribe = self.transcribe or _default_transcriber(settings)
        self.promote = self.promote or _default_promoter(settings)
        self.memory = self.memory if self.memory is not None else _default_memory(settings)


async def route(router: RouterLike, message: IncomingMessage) -> Reply:
    """Ask the router without blocking the event loop (an async `ahandle` is used when it exists)."""
    ahandle = getattr(router, "ahandle", None)
    if ahandle is not None and asyncio.iscoroutinefunction(ahandle):
        return await ahandle(message)
    return await asyncio.to_thread(router.handle, message)
