"""Text the bot sends: Discord-sized pieces, how a slash command reads in the log, interaction answers, error sentences."""

from __future__ import annotations

import logging
from typing import Any

import discord

from config import errors

log = logging.getLogger(__name__)
DISCORD_LIMIT = 2000


def user_error_text(exc: BaseException) -> str:
    """One sentence for any failure: SelftuneError messages as they are, anything else as an error id."""
    return errors.user_error_text(exc, log, "in the Discord bot")


def split_text(text: str, limit: int = DISCORD_LIMIT) -> list[str]:
    """Cut a long answer into Discord-sized pieces, preferring line breaks."""
    pieces: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        cut = cut if cut > limit // 2 else limit
        pieces.append(text[:cut])
        text = text[cut:].lstrip("\n")
    return [*pieces, text] if text or not pieces else pieces


def shown_request(intent: str, args: dict[str, Any]) -> str:
    """How a slash command's request reads in logs and memory, e.g. `/tune persona=pirate method=qlora`."""
    parts = [f"{key}={value}" for key, value in args.items() if value not in (None, "")]
    return " ".join([f"/{intent}", *parts])


async def respond(interaction: discord.Interaction, text: str, *, ephemeral: bool = False) -> None:
    """Answer an interaction whether or not it was already acknowledged."""
    if interaction.response.is_done():
        await interaction.followup.send(text[:DISCORD_LIMIT], ephemeral=ephemeral)
    else:
        await interaction.response.send_message(text[:DISCORD_LIMIT], ephemeral=ephemeral)
