"""Who may do what in Discord: the router's own rules (agent.auth identities, agent.dispatch's intent table).

Slash commands and buttons are checked here before anything runs, with the same table and the same
sentence the router uses for typed messages, so the two can never disagree."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import discord
from discord import app_commands

from agent import auth, dispatch
from agent.intents import Intent
from config.errors import PermissionDenied
from config.messages import IncomingMessage
from config.settings import Permission, Settings

T = TypeVar("T")


class Refused(app_commands.CheckFailure, PermissionDenied):
    """A slash command or button the user may not use; the message is the router's one sentence (a
    CheckFailure for discord.py, a SelftuneError for selftune, so every handler shows it as it is)."""


def role_names(user: discord.abc.User) -> list[str]:
    """Role names of a guild member (no roles in DMs); @everyone left out."""
    roles = getattr(user, "roles", None) or []
    return [role.name for role in roles if not role.is_default()]


def sender(user: discord.abc.User, channel_id: int | None, text: str = "") -> IncomingMessage:
    """The Discord user as the router sees a sender (identity, roles, channel)."""
    return IncomingMessage(transport="discord", channel=str(channel_id), user=str(user.id), text=text,
                           roles=role_names(user))


def permission_of(settings: Settings, user: discord.abc.User) -> Permission:
    """The highest permission config grants this Discord user (never decided by a model)."""
    return auth.permission_for(settings, "discord", user.id, role_names(user))


def allows(settings: Settings, user: discord.abc.User, needed: Permission) -> bool:
    """True when the Discord user holds at least `needed`."""
    return auth.allows(permission_of(settings, user), needed)


def intent_of(key: str) -> Intent:
    """The router's intent for a table key: 'schedule:add' is the schedule intent with action=add."""
    name, _, action = key.partition(":")
    return Intent(name=name, args={"action": action} if action else {})


def require(settings: Settings, user: discord.abc.User, intent: str) -> None:
    """Raise Refused (the router's sentence) unless the user may carry out `intent` (a key of the router's table)."""
    try:
        dispatch.check_permission(intent_of(intent), permission_of(settings, user), str(user.id))
    except PermissionDenied as exc:
        raise Refused(str(exc)) from None


async def acknowledge(interaction: discord.Interaction[Any], *, ephemeral: bool = False) -> None:
    """Tell Discord we are on it ("thinking…"), so slow work after this never meets its 3-second limit."""
    if not interaction.response.is_done():
        await interaction.response.defer(thinking=True, ephemeral=ephemeral)


def needs(intent: str, *, ephemeral: bool = False) -> Callable[[T], T]:
    """Slash-command check: the permission `intent` has in the router's table (agent.dispatch); once it
    passes, the interaction is acknowledged, so every command body (downloads, validation, routing) runs
    after Discord heard back, and a refusal is still the caller's own ephemeral sentence."""

    async def predicate(interaction: discord.Interaction[Any]) -> bool:
        require(interaction.client.settings, interaction.user, intent)  # type: ignore[attr-defined]
        await acknowledge(interaction, ephemeral=ephemeral)
        return True

    return app_commands.check(predicate)
