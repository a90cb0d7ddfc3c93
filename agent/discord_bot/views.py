"""Buttons under job messages, as persistent `DynamicItem`s: the custom id carries what a button acts on
(matched by each class's `template`), so a button keeps working after the bot restarts; the bot registers
the classes with `add_dynamic_items` and discord.py rebuilds the button from the id on every press."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import discord

from agent.discord_bot.auth import acknowledge, require, sender
from agent.discord_bot.services import BotServices, ask
from agent.discord_bot.text import respond, user_error_text

PREFIX = "selftune"
# Skipping the gate changes which adapter serves as a rollback
# does (admins); a gated promotion only serves a candidate that beats the current one, as the nightly retrain
# does on its own, so whoever may evaluate adapters (train) may ask for it.
PROMOTE_INTENT = "adapters.rollback"
GATED_PROMOTE_INTENT = "eval.run"
DynamicButton = discord.ui.DynamicItem[discord.ui.Button[Any]]


def custom_id(action: str, *parts: str) -> str:
    """'selftune:<action>:<part>...' (Discord allows 100 characters)."""
    return ":".join((PREFIX, action, *parts))[:100]


def services_of(interaction: discord.Interaction[Any]) -> BotServices:
    """The bot's services (a button only knows the client it was pressed on)."""
    return interaction.client.services  # type: ignore[attr-defined, no-any-return]


class Answered:
    """Mixin for our buttons: a press is answered with one ephemeral sentence, failures included."""

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        """Carry out the press; any failure becomes one sentence (tracebacks only in the log)."""
        try:
            text = await self.press(interaction, services_of(interaction))
        except Exception as exc:
            text = user_error_text(exc)
        await respond(interaction, text, ephemeral=True)

    async def press(self, interaction: discord.Interaction[Any], services: BotServices) -> str:
        """What the button does; returns the answer."""
        raise NotImplementedError


class CancelButton(Answered, DynamicButton, template=rf"{PREFIX}:cancel:(?P<job>[^:]+)"):
    """Cancel a running job."""

    def __init__(self, job_id: str) -> None:
        super().__init__(discord.ui.Button(label="Cancel", style=discord.ButtonStyle.danger,
                                           custom_id=custom_id("cancel", job_id)))
        self.job_id = job_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any],
                             match: re.Match[str]) -> CancelButton:
        """Rebuild the button from its custom id."""
        return cls(match["job"])

    async def press(self, interaction: discord.Interaction[Any], services: BotServices) -> str:
        """Ask the job to stop."""
        require(services.settings, services.router.registry, interaction.user, "jobs.cancel")
        await asyncio.to_thread(services.jobs.cancel, self.job_id)
        return f"Cancelling job {self.job_id}…"


class ExportButton(Answered, DynamicButton, template=rf"{PREFIX}:export:(?P<adapter>.+)"):
    """Export a finished adapter to Ollama (through the router, like `!export`)."""

    def __init__(self, adapter: str) -> None:
        super().__init__(discord.ui.Button(label="Export to Ollama", style=discord.ButtonStyle.primary,
                                           custom_id=custom_id("export", adapter)))
        self.adapter = adapter

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any],
                             match: re.Match[str]) -> ExportButton:
        """Rebuild the button from its custom id."""
        return cls(match["adapter"])

    async def press(self, interaction: discord.Interaction[Any], services: BotServices) -> str:
        """Route `!export adapter=... to=ollama` as the presser."""
        require(services.settings, services.router.registry, interaction.user, "export.run")
        return (await ask(services, interaction, "export", adapter=self.adapter, to="ollama")).text


class PromoteButton(Answered, DynamicButton, template=rf"{PREFIX}:promote:(?P<persona>[^:]+):(?P<adapter>.+)"):
    """Serve a finished adapter for its persona if it passes the evaluation gate (as a nightly retrain would)."""

    def __init__(self, persona: str, adapter: str) -> None:
        super().__init__(discord.ui.Button(label=f"Promote for {persona}", style=discord.ButtonStyle.success,
                                           custom_id=custom_id("promote", persona, adapter)))
        self.persona, self.adapter = persona, adapter

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any],
                             match: re.Match[str]) -> PromoteButton:
        """Rebuild the button from its custom id."""
        return cls(match["persona"], match["adapter"])

    async def press(self, interaction: discord.Interaction[Any], services: BotServices) -> str:
        """Evaluate against what the persona serves now; promote only on the gate's yes, and say which."""
        require(services.settings, services.router.registry, interaction.user, GATED_PROMOTE_INTENT)
        await acknowledge(interaction, ephemeral=True)  # the evaluation takes a while
        return (await asyncio.to_thread(services.promote, self.persona, self.adapter)).sentence()


class PromoteAnywayButton(Answered, DynamicButton,
                          template=rf"{PREFIX}:force:(?P<persona>[^:]+):(?P<adapter>.+)"):
    """Serve a finished adapter for its persona without the evaluation gate (admins only)."""

    def __init__(self, persona: str, adapter: str) -> None:
        super().__init__(discord.ui.Button(label="Promote anyway (skip the gate)", style=discord.ButtonStyle.danger,
                                           custom_id=custom_id("force", persona, adapter)))
        self.persona, self.adapter = persona, adapter

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any],
                             match: re.Match[str]) -> PromoteAnywayButton:
        """Rebuild the button from its custom id."""
        return cls(match["persona"], match["adapter"])

    async def press(self, interaction: discord.Interaction[Any], services: BotServices) -> str:
        """Promote without evaluating (admins, like a rollback), and say that the gate was skipped."""
        require(services.settings, services.router.registry, interaction.user, PROMOTE_INTENT)
        return (await asyncio.to_thread(services.promote, self.persona, self.adapter, gated=False)).sentence()


class ConfirmButton(Answered, DynamicButton, template=rf"{PREFIX}:confirm:(?P<token>[0-9a-f]+):(?P<answer>yes|no)"):
    """Confirm (or cancel) the action a reply described; only the person who asked can settle it."""

    def __init__(self, token: str, answer: str) -> None:
        yes = answer == "yes"
        super().__init__(discord.ui.Button(label="Confirm" if yes else "Cancel",
                                           style=discord.ButtonStyle.danger if yes else discord.ButtonStyle.secondary,
                                           custom_id=custom_id("confirm", token, answer)))
        self.token, self.yes = token, yes

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any],
                             match: re.Match[str]) -> ConfirmButton:
        """Rebuild the button from its custom id."""
        return cls(match["token"], match["answer"])

    async def press(self, interaction: discord.Interaction[Any], services: BotServices) -> str:
        """Settle the pending confirmation in the router (which checks it is the presser's and still open); a job
        the yes started is followed in its own thread, as after a typed yes."""
        incoming = sender(interaction.user, interaction.channel_id, "yes" if self.yes else "no")
        reply = await asyncio.to_thread(services.router.press, incoming, self.token, self.yes)
        if reply.job_id and interaction.channel is not None:
            interaction.client.follower.follow(reply, interaction.channel, None)  # type: ignore[attr-defined]
        return reply.text


BUTTONS = (CancelButton, ExportButton, PromoteButton, PromoteAnywayButton, ConfirmButton)


def _view(*items: discord.ui.Item[Any]) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for item in items:
        view.add_item(item)
    return view


def confirm_view(token: str) -> discord.ui.View:
    """Confirm and Cancel buttons for an action waiting for a yes."""
    return _view(ConfirmButton(token, "yes"), ConfirmButton(token, "no"))


def running_view(job_id: str) -> discord.ui.View:
    """A Cancel button for a running job."""
    return _view(CancelButton(job_id))


def adapter_id(adapter_dir: str | None) -> str | None:
    """The registry id of a finished adapter: manifest 'name/version', else the folder name."""
    if not adapter_dir:
        return None
    path = Path(adapter_dir)
    try:
        manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
        return f"{manifest['name']}/{manifest['version']}"
    except (OSError, ValueError, KeyError, TypeError):
        return path.name


def final_view(adapter_dir: str | None, persona: str | None) -> discord.ui.View | None:
    """Export, Promote (gated) and Promote anyway (admins) buttons for a finished adapter."""
    adapter = adapter_id(adapter_dir)
    if adapter is None:
        return None
    buttons: list[discord.ui.Item[Any]] = [ExportButton(adapter)]
    if persona:
        buttons += [PromoteButton(persona, adapter), PromoteAnywayButton(persona, adapter)]
    return _view(*buttons)
