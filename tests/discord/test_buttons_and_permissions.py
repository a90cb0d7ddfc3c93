"""Job buttons survive a restart (persistent DynamicItems), and slash commands ask the router's permission table."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import discord
import discord.ext.test as dpytest
from discord.ext.test import factories as facts
from discord.webhook.async_ import AsyncWebhookAdapter, async_context

from agent.discord_bot import BotServices
from agent.router import Router
from config.messages import IncomingMessage
from skills.jobs import JobManager
from tests.discord.conftest import SENT_COMPONENTS, FakeInteraction, dataset_file, invoke, start_bot


class InteractionCallbacks(AsyncWebhookAdapter):
    """Discord's interaction-callback endpoint (the far side of the boundary), recording each answer."""

    def __init__(self) -> None:
        super().__init__()
        self.answers: list[dict[str, Any]] = []

    async def create_interaction_response(self, interaction_id: int, token: str, *, session: Any,
                                          proxy: Any = None, proxy_auth: Any = None, params: Any) -> dict:
        self.answers.append(params.payload)
        flags = (params.payload.get("data") or {}).get("flags", 0)
        return {"interaction": {"id": str(interaction_id), "type": 3, "response_message_ephemeral": bool(flags & 64)}}


def button_press(bot: discord.Client, member: discord.Member, channel: discord.TextChannel, message_id: int,
                 custom_id: str) -> dict[str, Any]:
    """The INTERACTION_CREATE payload Discord sends when `member` presses a button on message `message_id`."""
    message = facts.make_message_dict(channel, bot.user, id_num=message_id, content="job progress")
    return {
        "id": str(discord.utils.time_snowflake(datetime.now(UTC))), "application_id": str(bot.user.id), "type": 3,
        "token": "interaction-token", "version": 1, "guild_id": str(channel.guild.id),
        "channel": facts.dict_from_channel(channel), "channel_id": str(channel.id),
        "member": {**facts.dict_from_member(member), "permissions": "0"}, "attachment_size_limit": 8_000_000,
        "data": {"custom_id": custom_id, "component_type": 2},
        "message": {**message, "components": SENT_COMPONENTS[message_id]}, "app_permissions": "0",
    }


async def press(bot: discord.Client, member: discord.Member, message: discord.Message, label: str) -> str:
    """`member` presses the button labelled `label` under `message` through Discord's gateway (dpytest); returns
    the bot's answer to the press (ephemeral, as Discord shows it only to the presser)."""
    [button] = [b for row in SENT_COMPONENTS[message.id] for b in row["components"] if b["label"] == label]
    discord_side = InteractionCallbacks()
    async_context.set(discord_side)
    bot._connection.parse_interaction_create(button_press(bot, member, message.channel, message.id, button["custom_id"]))
    [answer] = await wait_for(lambda: discord_side.answers)
    assert answer["data"]["flags"] == 64
    return str(answer["data"]["content"])


def labels(message: discord.Message) -> list[str]:
    """The labels of the buttons Discord shows under `message`."""
    return [b["label"] for row in SENT_COMPONENTS.get(message.id, []) for b in row["components"]]


async def confirm_preview(h: Any, label: str = "Confirm", member: discord.Member | None = None) -> tuple[str, str]:
    """The training preview the bot posts (Confirm/Cancel buttons, nothing started yet), then `label` pressed on
    it; returns (the preview, the answer to the press)."""
    got: list[discord.Message] = []

    def preview_arrived() -> list[discord.Message]:
        got.extend(h.sent())
        return [m for m in got if "Confirm" in labels(m)]

    [preview] = await wait_for(preview_arrived)
    assert "held out for evaluation" in preview.content and "Estimate on the " in preview.content
    unfinished = [job for job in h.bot.services.jobs.list() if not job.done]
    assert not unfinished and not h.bot.job_tasks, "nothing may start before the yes"
    return preview.content, await press(h.bot, member or h.members[0], preview, label)


async def wait_for(predicate: Any, timeout: float = 20.0) -> Any:
    """Poll (bounded) until predicate() is truthy."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not (value := predicate()):
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)
    return value


async def test_cancel_button_works_after_the_bot_is_recreated(make_harness, settings, monkeypatch, tmp_path):
    h = await make_harness()
    settings.auth.trainers.append(f"discord:{h.members[0].id}")
    monkeypatch.setenv("FAKE_TRAINER_STEP_S", "1")  # still running when the button is pressed
    await dpytest.message(f"!tune persona=pirate dataset={dataset_file(settings.artifacts_dir / 'datasets')}", channel=h.channel,
                          member=h.members[0])
    await confirm_preview(h)
    progress = await wait_for(lambda: [m for m in h.sent() if m.channel != h.channel])
    [job] = h.bot.services.jobs.list()
    [[button]] = [row["components"] for row in SENT_COMPONENTS[progress[0].id]]
    assert button["label"] == "Cancel" and button["custom_id"] == f"selftune:cancel:{job.id}"

    for name in list(h.bot.cogs):  # the old process goes away; only Discord keeps the message and its button
        await h.bot.remove_cog(name)
    services = BotServices(settings=settings, router=Router(settings), jobs=JobManager(settings))
    bot = await start_bot(settings, services)
    try:
        config = dpytest.get_config()
        trainer = config.members[0]
        settings.auth.trainers.append(f"discord:{trainer.id}")
        discord_side = InteractionCallbacks()
        async_context.set(discord_side)
        bot._connection.parse_interaction_create(
            button_press(bot, trainer, config.channels[0], progress[0].id, button["custom_id"]))
        [answer] = await wait_for(lambda: discord_side.answers)
        assert answer["data"]["content"] == f"Cancelling job {job.id}…" and answer["data"]["flags"] == 64  # ephemeral
        assert services.jobs.get(job.id).cancel_requested
        assert (await asyncio.to_thread(services.jobs.wait, job.id, 30)).state == "cancelled"
    finally:
        for name in list(bot.cogs):
            await bot.remove_cog(name)
        bot.store.close()
        services.jobs.close()


async def test_read_user_is_refused_a_train_slash_command_with_the_routers_rule(harness, monkeypatch):
    h = harness
    reader = h.members[1]  # no entry in auth: the default 'read' permission
    typed = h.router.handle(IncomingMessage(transport="discord", channel=str(h.channel.id), user=str(reader.id),
                                            text="!tune persona=pirate"))
    interaction = FakeInteraction(reader, h.channel)
    await invoke(h.bot, "tune", interaction, persona="pirate")
    assert interaction.sent == [(typed.text, True)]  # the router's own sentence, only the reader sees it
    assert "'tune' needs the 'train' permission and you have 'read'" in typed.text
    assert [m.text for m in h.seen] == ["!tune persona=pirate"] and not h.bot.services.jobs.list()

    # One declaration: raising a skill's permission in its SKILL.md is what the slash command enforces.
    registry = h.bot.services.router.registry
    monkeypatch.setitem(registry._skills, "jobs.status", registry.get("jobs.status").model_copy(update={"permission": "admin"}))
    status = FakeInteraction(reader, h.channel)
    await invoke(h.bot, "status", status)
    [(text, ephemeral)] = status.sent
    assert ephemeral and "'status' needs the 'admin' permission" in text and len(h.seen) == 1
