"""The adapters cog: /adapters list|promote|rollback. Promotion runs the evaluation gate (as the job message's
Promote button does) unless an admin asks to skip it; rollback is the router's `!rollback`."""

from __future__ import annotations

import asyncio

import discord
from discord import app_commands
from discord.ext import commands

from agent.discord_bot import choices
from agent.discord_bot.answers import Answers
from agent.discord_bot.auth import needs, require
from agent.discord_bot.services import BotServices
from agent.discord_bot.text import respond
from agent.discord_bot.views import GATED_PROMOTE_INTENT, PROMOTE_INTENT
from skills.train.adapters import AdapterInfo, list_adapters

MAX_LISTED = 20  # newest first; `selftune adapters list` shows them all


def adapter_line(adapter: AdapterInfo) -> str:
    """'- `pirate-lora/v2` (qlora, eval loss 1.1) · serves pirate'."""
    loss = adapter.metrics.get("eval_loss")
    details = ", ".join([adapter.method, *([f"eval loss {loss:.3g}"] if isinstance(loss, int | float) else [])])
    serving = f" · serves {', '.join(adapter.served_for)}" if adapter.served_for else ""
    return f"- `{adapter.id}` ({details}){serving}"


def adapters_text(adapters: list[AdapterInfo]) -> str:
    """The newest adapters, one line each, and how many more there are."""
    if not adapters:
        return "No adapters are trained yet; start one with /tune."
    newest = list(reversed(adapters))[:MAX_LISTED]
    more = f"\n…and {len(adapters) - MAX_LISTED} older ones." if len(adapters) > MAX_LISTED else ""
    return "\n".join(["Adapters, newest first:", *map(adapter_line, newest)]) + more


class Adapters(commands.GroupCog, group_name="adapters", group_description="Trained adapters and what each persona serves."):
    """The adapter registry in Discord."""

    def __init__(self, services: BotServices, answers: Answers) -> None:
        self.services, self.answers = services, answers

    @app_commands.command(name="list", description="Trained adapters, newest first, and which persona each serves.")
    @app_commands.describe(name="Only adapters with this name, e.g. pirate-lora.")
    @needs("jobs.status")  # reading what exists and what serves, like a job's status
    async def list_(self, interaction: discord.Interaction, name: str | None = None) -> None:
        """List adapters."""
        found = await asyncio.to_thread(list_adapters, self.services.settings, name or None)
        await respond(interaction, adapters_text(found))

    @app_commands.command(name="promote", description="Serve an adapter for a persona if it passes the evaluation gate.")
    @app_commands.describe(persona="Persona that will serve the adapter.", adapter="Adapter id, e.g. pirate-lora/v2.",
                           skip_gate="Admins: promote without evaluating it first.")
    @app_commands.autocomplete(persona=choices.personas, adapter=choices.adapters)
    @needs(GATED_PROMOTE_INTENT)
    async def promote(self, interaction: discord.Interaction, persona: str, adapter: str,
                      skip_gate: bool = False) -> None:
        """Promote an adapter (gated unless an admin skips the gate)."""
        if skip_gate:
            require(self.services.settings, self.services.router.registry, interaction.user, PROMOTE_INTENT)
        outcome = await asyncio.to_thread(self.services.promote, persona, adapter, gated=not skip_gate)
        await respond(interaction, outcome.sentence())

    @app_commands.command(name="rollback", description="Serve a persona's previous adapter again (admins).")
    @app_commands.describe(persona="Persona whose adapter to roll back.", to="Adapter id to serve instead of the previous one.")
    @app_commands.autocomplete(persona=choices.personas, to=choices.adapters)
    @needs("adapters.rollback")
    async def rollback(self, interaction: discord.Interaction, persona: str, to: str | None = None) -> None:
        """Serve the previous adapter again (the router's `!rollback`, which asks for a yes)."""
        await self.answers.run_command(interaction, "rollback", persona=persona, to=to)
