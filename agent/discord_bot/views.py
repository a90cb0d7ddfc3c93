"""Buttons under job messages. Their custom ids carry what they act on, so the bot's
`on_interaction` handles them even after a restart (no in-memory view state needed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import discord

if TYPE_CHECKING:
    from agent.discord_bot.progress import JobView

PREFIX = "selftune"


def custom_id(action: str, *parts: str) -> str:
    """'selftune:<action>:<part>...' (Discord allows 100 characters)."""
    return ":".join((PREFIX, action, *parts))[:100]


def parse_custom_id(value: str) -> tuple[str, list[str]] | None:
    """(action, parts) of one of our buttons, or None for someone else's component."""
    head, _, rest = value.partition(":")
    if head != PREFIX or not rest:
        return None
    action, *parts = rest.split(":")
    return action, parts


def _view(*buttons: discord.ui.Button) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for button in buttons:
        view.add_item(button)
    return view


def running_view(job_id: str) -> discord.ui.View:
    """A Cancel button for a running job."""
    return _view(discord.ui.Button(label="Cancel", style=discord.ButtonStyle.danger,
                                   custom_id=custom_id("cancel", job_id)))


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


def final_view(job: JobView) -> discord.ui.View | None:
    """Export and Promote buttons for a finished adapter."""
    adapter = adapter_id((job.final or {}).get("adapter_dir"))
    if adapter is None:
        return None
    buttons = [discord.ui.Button(label="Export to Ollama", style=discord.ButtonStyle.primary,
                                 custom_id=custom_id("export", adapter))]
    if job.persona:
        buttons.append(discord.ui.Button(label=f"Promote for {job.persona}", style=discord.ButtonStyle.success,
                                         custom_id=custom_id("promote", job.persona, adapter)))
    return _view(*buttons)
