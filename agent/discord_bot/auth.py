"""Who may do what in Discord: identities 'discord:<id>' and 'role:<name>' looked up in settings.auth."""

from __future__ import annotations

from collections.abc import Iterable

import discord

from agent.auth import permission_for
from config.settings import Permission, Settings
from skills.context import PERMISSION_RANK


def permission_of(settings: Settings, user_id: int, role_names: Iterable[str]) -> Permission:
    """The member's permission by the one rule in agent.auth.permission_for (never decided by a model)."""
    return permission_for(settings, "discord", user_id, role_names)


def role_names(user: discord.abc.User) -> list[str]:
    """Role names of a guild member (no roles in DMs); @everyone left out."""
    roles = getattr(user, "roles", None) or []
    return [role.name for role in roles if not role.is_default()]


def allows(settings: Settings, user: discord.abc.User, needed: Permission) -> bool:
    """True when the Discord user holds at least `needed`."""
    have = permission_of(settings, user.id, role_names(user))
    return PERMISSION_RANK[have] >= PERMISSION_RANK[needed]
