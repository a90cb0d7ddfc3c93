"""The schedules cog: /schedule list|add|remove|pause|resume, the nightly gated retrains. Each subcommand is
the router's `!schedule action=...` from the caller, so permissions, confirmation and replies are the ones
typed commands get."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from agent.discord_bot import choices
from agent.discord_bot.answers import Answers
from agent.discord_bot.auth import needs


class Schedules(commands.GroupCog, group_name="schedule", group_description="Nightly, gated retrains of a persona."):
    """Persisted retrain schedules."""

    def __init__(self, answers: Answers) -> None:
        self.answers = answers

    async def route(self, interaction: discord.Interaction, action: str, **args: object) -> None:
        """Send `!schedule action=<action> ...` through the router as the caller."""
        await self.answers.run_command(interaction, "schedule", action=action, **args)

    @app_commands.command(name="list", description="What is scheduled, soonest first.")
    @needs("schedule.list")
    async def list_(self, interaction: discord.Interaction) -> None:
        """List the schedules."""
        await self.route(interaction, "list")

    @app_commands.command(name="add", description="Retrain a persona nightly at a time of day, or every N minutes.")
    @app_commands.describe(persona="Persona whose adapter is retrained.",
                           at="Time of day, e.g. 02:00 or 2am (default 02:00).",
                           every_minutes="Instead of nightly: run every this many minutes.")
    @app_commands.autocomplete(persona=choices.personas)
    @needs("schedule.add")
    async def add(self, interaction: discord.Interaction, persona: str, at: str | None = None,
                  every_minutes: app_commands.Range[float, 1, 7 * 24 * 60] | None = None) -> None:
        """Add (or replace) a persona's retrain schedule."""
        await self.route(interaction, "add", persona=persona, at=at, every_minutes=every_minutes)

    @app_commands.command(name="remove", description="Delete a schedule.")
    @app_commands.describe(schedule="Persona (or schedule id) whose schedule is deleted.")
    @app_commands.autocomplete(schedule=choices.schedules)
    @needs("schedule.remove")
    async def remove(self, interaction: discord.Interaction, schedule: str) -> None:
        """Delete a schedule (asks for a yes first, like the typed command)."""
        await self.route(interaction, "remove", persona=schedule)

    @app_commands.command(name="pause", description="Pause a schedule without deleting it.")
    @app_commands.describe(schedule="Persona (or schedule id) whose schedule is paused.")
    @app_commands.autocomplete(schedule=choices.schedules)
    @needs("schedule.remove")
    async def pause(self, interaction: discord.Interaction, schedule: str) -> None:
        """Pause a schedule."""
        await self.route(interaction, "pause", persona=schedule)

    @app_commands.command(name="resume", description="Resume a paused schedule.")
    @app_commands.describe(schedule="Persona (or schedule id) whose schedule resumes.")
    @app_commands.autocomplete(schedule=choices.schedules)
    @needs("schedule.remove")
    async def resume(self, interaction: discord.Interaction, schedule: str) -> None:
        """Resume a schedule."""
        await self.route(interaction, "resume", persona=schedule)
