"""The Discord bot: built with its settings and services, loads one cog per concern in `setup_hook`,
registers the persistent job buttons, and syncs slash commands to the configured guilds only."""

from __future__ import annotations

import logging
import sys
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from agent.discord_bot.adapters import Adapters
from agent.discord_bot.admin import Admin
from agent.discord_bot.answers import Answers
from agent.discord_bot.conversation import Conversation
from agent.discord_bot.feedback import Feedback
from agent.discord_bot.jobs import JobFollower, Jobs
from agent.discord_bot.schedules import Schedules
from agent.discord_bot.services import BotServices
from agent.discord_bot.skill_commands import skill_commands
from agent.discord_bot.store import BotStore
from agent.discord_bot.text import respond, user_error_text
from agent.discord_bot.uploads import Uploads
from agent.discord_bot.views import BUTTONS
from config.errors import SelftuneError, report_internal_error
from config.settings import Settings

log = logging.getLogger(__name__)


class SelftuneTree(app_commands.CommandTree):
    """The one error handler for slash commands: one short ephemeral sentence, the traceback only in the log."""

    async def on_error(self, interaction: discord.Interaction[Any], error: app_commands.AppCommandError) -> None:
        """Any slash-command failure → one sentence (refusals say why, our bugs give an error id)."""
        original = getattr(error, "original", error)
        if isinstance(original, app_commands.CheckFailure) and not isinstance(original, SelftuneError):
            text = "You can't use that command here."
        else:
            text = user_error_text(original)
        await respond(interaction, text, ephemeral=True)


class SelftuneBot(commands.Bot):
    """selftune in Discord; its cogs get the services it was built with."""

    def __init__(self, settings: Settings, services: BotServices, *, store: BotStore | None = None,
                 intents: discord.Intents | None = None, run_schedules: bool = True) -> None:
        if intents is None:
            intents = discord.Intents.default()
            intents.message_content = True  # privileged: enable "Message Content Intent" in the portal
        super().__init__(command_prefix=commands.when_mentioned, intents=intents, help_command=None,
                         tree_cls=SelftuneTree)
        self.settings, self.services = settings, services
        self.store = store or BotStore(settings)
        self.follower = JobFollower(services)
        self.answers = Answers(services, self.store, self.follower.follow)
        self.run_schedules = run_schedules

    async def setup_hook(self) -> None:
        """Load the cogs, listen for our persistent buttons, sync slash commands to the configured guilds."""
        uploads = Uploads(self.services)
        for cog in (uploads, Conversation(self, self.services, self.store, self.answers, uploads),
                    Jobs(self, self.services, self.answers, self.follower, run_schedules=self.run_schedules),
                    Feedback(self, self.services, self.store), Admin(self.services, self.answers),
                    Schedules(self.answers), Adapters(self.services, self.answers)):
            await self.add_cog(cog)
        taken = {command.name for command in self.tree.get_commands()}
        for command in skill_commands(self.services.router.registry, self.answers, taken):  # declared, not hand-made
            self.tree.add_command(command)
        self.add_dynamic_items(*BUTTONS)
        await self.sync_commands()

    async def sync_commands(self) -> list[str]:
        """Push slash commands to Discord; returns where they were synced."""
        synced = []
        for guild_id in self.settings.discord.guild_ids:
            guild = discord.Object(id=guild_id)
            self.tree.copy_global_to(guild=guild)
            await self.tree.sync(guild=guild)
            synced.append(f"guild:{guild_id}")
        if self.settings.discord.global_sync:
            await self.tree.sync()
            synced.append("global")
        if not synced:
            log.warning("no discord.guild_ids configured and global_sync is off: slash commands are not synced")
        return synced

    async def on_error(self, event_method: str, /, *args: Any, **kwargs: Any) -> None:
        """A listener's own bug (nobody to answer): logged once under an error id, traceback included."""
        report_internal_error(log, sys.exc_info()[1] or RuntimeError("unknown error"), f"in the Discord event {event_method}")

    async def on_message(self, message: discord.Message, /) -> None:
        """No prefix commands here: `!commands` are the router's (the Conversation cog listens)."""

    @property
    def job_tasks(self) -> set[Any]:
        """The jobs being followed right now."""
        return self.follower.tasks

    async def close(self) -> None:
        """Unload the cogs (stops the schedules and job following), disconnect, close the stores."""
        await super().close()
        self.store.close()


async def run_bot(settings: Settings, services: BotServices | None = None) -> None:
    """Log in with the configured token and serve until stopped (discord.py reconnects by itself)."""
    token = settings.secret("discord_token")
    if not token:
        raise SelftuneError("No Discord token is configured; set SELFTUNE_DISCORD_TOKEN or discord_token_file.")
    services = services or BotServices.for_settings(settings)
    try:
        async with SelftuneBot(settings, services) as bot:
            await bot.start(token, reconnect=True)
    except discord.LoginFailure:
        raise SelftuneError("Discord rejected the bot token; copy it again from the developer portal.") from None
    except discord.PrivilegedIntentsRequired:
        raise SelftuneError(
            "Discord refused the Message Content intent; enable it under Bot → Privileged Gateway Intents."
        ) from None
    finally:
        services.close()
