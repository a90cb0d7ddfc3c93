"""The parts of selftune the bot calls, built once by `for_settings` and handed to the bot's constructor
(the discord.py way: the Bot gets its resources through its constructor, its cogs get them from the Bot)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import discord

from agent import dispatch
from agent.auth import requester_for
from agent.discord_bot.auth import sender
from agent.discord_bot.text import shown_request
from agent.dispatch import skill_context
from agent.router import Progress, Router
from config.messages import IncomingMessage, Reply, Request
from config.settings import Settings
from memory.store import Memory
from skills.dataset.validate import ValidationReport, validate_file
from skills.evaluate.promotion import Promotion, forced_promote, gated_promote
from skills.jobs import JobManager
from skills.providers.base import TokenSink
from skills.voice import Transcript, persona_names, transcribe_file

Validator = Callable[[Path], ValidationReport]
Transcriber = Callable[[Path], Transcript]


@dataclass
class BotServices:
    """The real parts the bot uses: the Router, the job manager, memory, validation, voice and promotion."""

    settings: Settings
    router: Router
    jobs: JobManager
    memory: Memory | None = None  # reply log with Discord ids, feedback, consent status

    @classmethod
    def for_settings(cls, settings: Settings, router: Router | None = None, *, memory: bool = True) -> BotServices:
        """The real parts for these settings (memory loads the embedding model, so it can be left out)."""
        return cls(settings=settings, router=router or Router(settings), jobs=JobManager(settings),
                   memory=Memory(settings) if memory else None)

    def validate_dataset(self, path: Path) -> ValidationReport:
        """Validate an uploaded dataset file (every bad row with its line)."""
        return validate_file(path, checks=False)  # rows only: the cross-row checks are shown by `dataset validate`

    def transcribe(self, path: Path) -> Transcript:
        """Transcribe a voice note locally (Whisper primed with the persona names, as the Router does; a clear
        command is heard in the short window, an unsure one again with the command vocabulary)."""
        heard = transcribe_file(path, self.settings, persona_names(self.settings), self.router.heard_command,
                                self.router.second_guess())
        # The routed text carries no "ask first" mark from here: a primed transcript not to be trusted is not used.
        return heard.model_copy(update={"text": heard.alternatives[0]}) if heard.ask_first else heard

    def promote(self, persona: str, adapter_id: str, *, gated: bool = True) -> Promotion:
        """Serve `adapter_id` for `persona` if it passes the evaluation gate (or, `gated=False`, regardless)."""
        if gated:
            return gated_promote(self.settings, persona, adapter_id)
        return forced_promote(self.settings, persona, adapter_id)

    def close(self) -> None:
        """Close the database connections the parts hold."""
        self.jobs.close()
        if self.memory is not None:
            self.memory.close()


async def route(router: Router, message: IncomingMessage, progress: Progress | None = None,
                on_token: TokenSink | None = None) -> Reply:
    """Ask the router without blocking the event loop (`progress` hears work done before the reply,
    `on_token` a plain chat answer as it is written)."""
    return await router.ahandle(message, progress, on_token)


async def run_skill(services: BotServices, interaction: discord.Interaction[Any], name: str,
                    args: dict[str, Any]) -> Any:
    """Run one skill as the interaction's user, the way the router runs it: that user's permission and the
    confined paths every Discord request gets."""
    requester = requester_for(services.settings, sender(interaction.user, interaction.channel_id))
    ctx = skill_context(services.settings, requester, chosen_by_model=False)
    return await asyncio.to_thread(dispatch.run_skill, services.router.registry, name, args, ctx)


async def ask(services: BotServices, interaction: discord.Interaction[Any], intent: str, **args: Any) -> Reply:
    """Route a slash command or button press as an understood request (intent and arguments) from the
    interaction's user: the router's one action path, with nothing turned into text and parsed again."""
    incoming = sender(interaction.user, interaction.channel_id, shown_request(intent, args)).model_copy(
        update={"message_id": str(interaction.id), "request": Request(intent=intent, args=args)})
    return await route(services.router, incoming)


async def say(services: BotServices, interaction: discord.Interaction[Any], text: str) -> Reply:
    """Route text from a slash command (`/ask`) as if the interaction's user had typed it."""
    incoming = sender(interaction.user, interaction.channel_id, text).model_copy(update={"message_id": str(interaction.id)})
    return await route(services.router, incoming)
