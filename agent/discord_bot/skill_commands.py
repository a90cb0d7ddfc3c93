"""A slash command for every skill that declares a `command` word and has no hand-made one: its options come
from the skill's parameters and argument descriptions (persona, adapter, job and schedule options suggest what
exists), its check from the skill's permission, and it runs
through the router's one action path (confirmation included). A third-party skill gets its command with
no line of the bot naming it."""

from __future__ import annotations

import inspect
from typing import Any, Optional

import discord
from discord import app_commands

from agent.discord_bot import choices
from agent.discord_bot.answers import Answers
from agent.discord_bot.auth import needs
from skills.registry import SkillInfo, SkillRegistry

_TYPES: dict[str, type] = {"string": str, "integer": int, "number": float, "boolean": bool}
_LIMIT = 100  # Discord's length limit for command and option descriptions
_SUGGEST = {"persona": choices.personas, "adapter": choices.adapters, "job": choices.jobs, "job_id": choices.jobs,
            "schedule": choices.schedules}  # options named so get the same suggestions as the hand-made commands


def skill_commands(registry: SkillRegistry, answers: Answers, taken: set[str]) -> list[app_commands.Command]:
    """Commands for the declared skills whose first command word is free (the hand-made ones keep theirs)."""
    made = []
    for skill in registry.all():
        words = skill.declaration.command
        if words and words[0] not in taken and skill.declaration.intent:
            taken.add(words[0])
            made.append(_command(skill, words[0], answers))
    return made


def _command(skill: SkillInfo, word: str, answers: Answers) -> app_commands.Command:
    intent = str(skill.declaration.intent)

    async def callback(interaction: discord.Interaction, **options: Any) -> None:
        await answers.run_command(interaction, intent, **{k: v for k, v in options.items() if v is not None})

    properties = skill.parameters.get("properties", {})
    required = set(skill.parameters.get("required", []))
    options = [name for name in properties if name != "channel"]  # the channel is where the command is used
    callback.__signature__ = inspect.Signature([  # type: ignore[attr-defined]
        inspect.Parameter("interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=discord.Interaction),
        *(_option(name, properties[name], name in required) for name in options)])
    callback.__discord_app_commands_param_description__ = {  # type: ignore[attr-defined]
        name: str(properties[name].get("description") or name.replace("_", " "))[:_LIMIT] for name in options}
    checked = needs(skill.name)(callback)
    command = app_commands.Command(name=word, description=skill.description[:_LIMIT], callback=checked)
    for name in options:
        if name in _SUGGEST:
            command.autocomplete(name)(_SUGGEST[name])
    return command


def _option(name: str, schema: dict[str, Any], required: bool) -> inspect.Parameter:
    """A slash-command option for one parameter (text unless the schema says a plain number or flag)."""
    kind = _TYPES.get(str(schema.get("type")), str)
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=kind if required else Optional[kind],  # noqa: UP045
                             default=inspect.Parameter.empty if required else None)
