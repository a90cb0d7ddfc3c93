"""Who may do what in Discord: identities 'discord:<id>' and 'role:<name>' looked up in settings.auth."""

from __future__ import annotations

from collections.abc import Iterable

import discord

from config.settings import Permission, Settings
from skills.context import PERMISSION_RANK


def identities(user_id: int, role_names: Iterable[str]) -> set[str]:
    """The config identities one Discord member has."""
    return {f"discord:{user_id}", *(f"role:{name}" for name in role_names)}


def permission_of(settings: Settings, user_id: int, role_names: Iterable[str]) -> Permission:
    """The highest permission the member's identities grant (never decided by a model)."""
    ids = identities(user_id, role_names)
    if ids & set(settings.auth.admins):
        return "admin"
    if ids & set(settings.auth.trainers):
        return "train"
    return settings.auth.default_permission


def role_names(user: discord.abc.User) -> list[str]:
    """Role names of a guild member (no roles in DMs); @everyone left out."""
    roles = getattr(user, "roles", None) or []
    return [role.name for role in roles if not role.is_default()]


def allows(settings: Settings, user: discord.abc.User, needed: Permission) -> bool:
    """True when the Discord user holds at least `needed`."""
    have = permission_of(settings, user.id, role_names(user))
    return PERMISSION_RANK[have] >= PERMISSION_RANK[needed]
