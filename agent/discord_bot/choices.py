"""Autocomplete for slash-command parameters: persona names (workspace cards), adapter ids (the adapter
registry), job ids (the job store) and schedules, filtered by what was typed and capped at Discord's 25."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any

import discord
from discord import app_commands

from config.errors import report_internal_error
from config.settings import Settings
from skills.jobs import JobManager
from skills.personas import list_personas
from skills.scheduler import list_schedules
from skills.train.adapters import list_adapters

log = logging.getLogger(__name__)
MAX_CHOICES = 25  # Discord shows at most 25 suggestions
Choice = app_commands.Choice[str]


def matching(options: Iterable[tuple[str, str]], current: str, limit: int = MAX_CHOICES) -> list[Choice]:
    """(label, value) pairs whose label contains what was typed, prefix matches first, at most `limit`."""
    typed = current.strip().lower()
    found = [(label, value) for label, value in options if typed in label.lower()]
    found.sort(key=lambda pair: not pair[0].lower().startswith(typed))  # stable: keeps the source's order
    return [app_commands.Choice(name=label[:100], value=value[:100]) for label, value in found[:limit]]


def persona_options(settings: Settings) -> list[tuple[str, str]]:
    """Persona cards in the workspace."""
    return [(name, name) for name in list_personas(settings.workspace_dir)]


def adapter_options(settings: Settings) -> list[tuple[str, str]]:
    """Registered adapters, newest first, with the personas they serve."""
    options = []
    for adapter in reversed(list_adapters(settings)):
        serving = f" · serves {', '.join(adapter.served_for)}" if adapter.served_for else ""
        options.append((f"{adapter.id}{serving}", adapter.id))
    return options


def job_options(jobs: JobManager) -> list[tuple[str, str]]:
    """Recent jobs, newest first, labelled with their persona and state (read from the store, no side effects)."""
    return [(f"{job.id} · {job.spec.get('persona') or job.name} · {job.state}", job.id)
            for job in jobs.store.list(limit=100)]


def schedule_options(settings: Settings) -> list[tuple[str, str]]:
    """Persisted schedules by name (the value is the persona, which the schedule skills accept)."""
    return [(f"{s.name}{' (paused)' if s.paused else ''}", s.persona or s.id) for s in list_schedules(settings)]


async def _suggest(interaction: discord.Interaction[Any], current: str,
                   options: Callable[[Any], list[tuple[str, str]]]) -> list[Choice]:
    """Run a lookup off the event loop; a failing lookup suggests nothing (and is logged with an error id)."""
    services = interaction.client.services  # type: ignore[attr-defined]
    try:
        return matching(await asyncio.to_thread(options, services), current)
    except Exception as exc:  # suggestions must never break the command itself
        report_internal_error(log, exc, "while suggesting slash-command values")
        return []


async def personas(interaction: discord.Interaction[Any], current: str) -> list[Choice]:
    """Autocomplete: persona names."""
    return await _suggest(interaction, current, lambda services: persona_options(services.settings))


async def adapters(interaction: discord.Interaction[Any], current: str) -> list[Choice]:
    """Autocomplete: adapter ids."""
    return await _suggest(interaction, current, lambda services: adapter_options(services.settings))


async def jobs(interaction: discord.Interaction[Any], current: str) -> list[Choice]:
    """Autocomplete: job ids."""
    return await _suggest(interaction, current, lambda services: job_options(services.jobs))


async def schedules(interaction: discord.Interaction[Any], current: str) -> list[Choice]:
    """Autocomplete: schedules."""
    return await _suggest(interaction, current, lambda services: schedule_options(services.settings))
