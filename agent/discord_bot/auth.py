"""Who may do what in Discord: the router's own rules (agent.auth identities, the permission each skill declares).

Slash commands and buttons are checked here before anything runs, with the same declaration and the same
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
from skills.registry import SkillRegistry

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


def require(settings: Settings, registry: SkillRegistry, user: discord.abc.User, skill: str | None) -> None:
    """Raise Refused (the router's sentence) unless the user may run `skill` (None: talking, help: anyone)."""
    if skill is None:
        return
    info = registry.get(skill)
    intent = Intent(name=info.declaration.intent or skill, skill=skill)
    try:
        dispatch.check_permission(intent, info.permission, permission_of(settings, user), str(user.id))
    except PermissionDenied as exc:
        raise Refused(str(exc)) from None


async def acknowledge(interaction: discord.Interaction[Any], *, ephemeral: bool = False) -> None:
    """Tell Discord we are on it ("thinking…"), so slow work after this never meets its 3-second limit."""
    if not interaction.response.is_done():
        await interaction.response.defer(thinking=True, ephemeral=ephemeral)


def needs(skill: str | None, *, ephemeral: bool = False) -> Callable[[T], T]:
    """Slash-command check: the permission `skill` declares (None: anyone); once it passes, the interaction is
    acknowledged, so every command body (downloads, validation, routing) runs after Discord heard back, and a
    refusal is still the caller's own ephemeral sentence."""

    async def predicate(interaction: discord.Interaction[Any]) -> bool:
        client = interaction.client
        require(client.settings, client.services.router.registry, interaction.user, skill)  # type: ignore[attr-defined]
        await acknowledge(interaction, ephemeral=ephemeral)
        return True

    return app_commands.check(predicate)
