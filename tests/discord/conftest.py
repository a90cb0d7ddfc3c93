"""dpytest harness for the Discord bot: real discord.py objects, a fake Discord backend, no network.

dpytest 0.7 does not implement thread creation, so the two thread endpoints are added here the way
its other endpoints work (they update the fake server state and return Discord's JSON)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import discord
import discord.ext.test as dpytest
import discord.state
import pytest
import pytest_asyncio
from discord import app_commands
from discord.ext.test import backend, callbacks
from discord.http import MultipartParameters

from agent.discord_bot import BotServices, SelftuneBot
from agent.discord_bot.auth import permission_of
from config.errors import PermissionDenied
from config.messages import IncomingMessage, Reply
from config.settings import Settings
from skills.context import PERMISSION_RANK


def _thread_payload(channel_id: int, thread_id: int, name: str) -> dict[str, Any]:
    state = backend.get_state()
    channel = state.get_channel(channel_id)
    return {
        "id": str(thread_id), "guild_id": str(channel.guild.id), "parent_id": str(channel_id),
        "owner_id": str(state.user.id), "name": name, "type": 11, "message_count": 0, "member_count": 1,
        "rate_limit_per_user": 0, "newly_created": True,
        "thread_metadata": {"archived": False, "auto_archive_duration": 1440, "locked": False,
                            "archive_timestamp": datetime.now(UTC).isoformat()},
    }


async def _start_thread_with_message(self, channel_id, message_id, *, name, **_: Any) -> dict[str, Any]:
    data = _thread_payload(channel_id, message_id, name)  # Discord gives the thread the message's id
    backend.get_state().parse_thread_create(data)
    return data


async def _start_thread_without_message(self, channel_id, *, name, **_: Any) -> dict[str, Any]:
    data = _thread_payload(channel_id, discord.utils.time_snowflake(datetime.now(UTC)), name)
    backend.get_state().parse_thread_create(data)
    return data


_ORIGINAL_SEND = backend.FakeHttp.send_message


async def _send_message_keeping_content(self, channel_id, *, params):
    """dpytest drops the text of messages that carry files (it lives in the multipart payload_json)."""
    channel = backend._get_higher_locs(1).get("channel")  # noqa: F841 - read by dpytest from this frame
    if params.payload is None and params.multipart:
        part = next((p for p in params.multipart if p.get("name") == "payload_json"), None)
        if part is not None:
            params = MultipartParameters(payload=json.loads(part["value"]), multipart=params.multipart,
                                         files=params.files)
    return await _ORIGINAL_SEND(self, channel_id, params=params)


def _with_reaction_type(parse: Callable[..., None]) -> Callable[..., None]:
    """dpytest's reaction payloads predate the 'type' field discord.py 2.7 reads."""

    def parse_with_type(self, data: dict[str, Any]) -> None:
        parse(self, {"type": 0, **data})

    return parse_with_type


class ScriptedRouter:
    """Stand-in for the agent's Router at its seam: records messages; `tune` starts job j1 when allowed."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.seen: list[IncomingMessage] = []
        self.fail_with: BaseException | None = None

    def handle(self, message: IncomingMessage) -> Reply:
        self.seen.append(message)
        if self.fail_with is not None:
            raise self.fail_with
        text = message.text.lower()
        if text.startswith(("tune", "!tune")):
            have = permission_of(self.settings, int(message.user), message.roles)
            if PERMISSION_RANK[have] < PERMISSION_RANK["train"]:
                raise PermissionDenied("'train.submit' needs the 'train' permission; ask an admin.")
            return Reply(text="Started job j1 for the pirate persona.", intent="tune",
                         args={"persona": "pirate"}, job_id="j1")
        if text.startswith("!collect"):
            return Reply(text=f"Collection is now {text.split('=')[-1]} here.", intent="collect")
        return Reply(text=f"You said: {message.text}", intent="chat")


class FakeJobs:
    """Stand-in for JobManager.follow: a few progress events, then done (or what `script` says)."""

    def __init__(self) -> None:
        self.cancelled: list[str] = []
        self.script: list[dict[str, Any]] = []
        self.delay_s = 0.0

    async def follow(self, job_id: str) -> AsyncIterator[dict[str, Any]]:
        for event in self.script:
            await asyncio.sleep(self.delay_s)
            yield event

    def cancel(self, job_id: str) -> None:
        self.cancelled.append(job_id)


class FakeResponse:
    """The interaction response half of Discord's API, recorded."""

    def __init__(self, interaction: FakeInteraction) -> None:
        self.interaction = interaction
        self.done = False

    def is_done(self) -> bool:
        return self.done

    async def defer(self, **_: Any) -> None:
        self.done = True

    async def send_message(self, content: str, *, ephemeral: bool = False, **_: Any) -> None:
        self.done = True
        self.interaction.sent.append((content, ephemeral))


class FakeFollowup:
    """Follow-up webhook: posts into the channel through dpytest so files and ids are real."""

    def __init__(self, interaction: FakeInteraction) -> None:
        self.interaction = interaction

    async def send(self, content: str, *, ephemeral: bool = False, files: Any = None, wait: bool = False,
                   **_: Any) -> discord.Message:
        self.interaction.sent.append((content, ephemeral))
        return await self.interaction.channel.send(content, files=files or [])


class FakeInteraction:
    """A slash-command or button interaction from `user` in `channel` (Discord's side faked)."""

    def __init__(self, user: discord.Member, channel: discord.TextChannel, custom_id: str | None = None) -> None:
        self.user, self.channel, self.channel_id, self.guild = user, channel, channel.id, channel.guild
        self.id = discord.utils.time_snowflake(datetime.now(UTC))
        self.created_at = datetime.now(UTC)
        self.type = discord.InteractionType.component if custom_id else discord.InteractionType.application_command
        self.data = {"custom_id": custom_id} if custom_id else {}
        self.sent: list[tuple[str, bool]] = []
        self.response = FakeResponse(self)
        self.followup = FakeFollowup(self)


async def invoke(bot: SelftuneBot, name: str, interaction: FakeInteraction, **params: Any) -> None:
    """Run a slash command the way CommandTree does: errors go to tree.on_error."""
    command = bot.tree.get_command(name)
    assert command is not None, name
    try:
        await command.callback(interaction, **params)
    except Exception as exc:
        await bot.tree.on_error(interaction, app_commands.CommandInvokeError(command, exc))


class Harness:
    """A configured bot with its stand-ins and what Discord saw."""

    def __init__(self, bot: SelftuneBot, router: Any, jobs: FakeJobs) -> None:
        self.bot, self.router, self.jobs = bot, router, jobs
        self.edits: list[tuple[float, str]] = []
        config = dpytest.get_config()
        self.guild, self.channel = config.guilds[0], config.channels[0]
        self.members = config.members

    def mention(self) -> str:
        return f"<@{self.bot.user.id}>"

    def sent(self) -> list[discord.Message]:
        out = []
        while not dpytest.sent_queue.empty():
            out.append(dpytest.sent_queue.get_nowait())
        return out

    async def settle_jobs(self, timeout: float = 20.0) -> None:
        if self.bot.job_tasks:
            await asyncio.wait_for(asyncio.gather(*self.bot.job_tasks), timeout)


@pytest.fixture
def make_harness(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """Build a dpytest-configured bot; `router=` replaces the scripted stand-in."""
    monkeypatch.setattr(backend.FakeHttp, "start_thread_with_message", _start_thread_with_message, raising=False)
    monkeypatch.setattr(backend.FakeHttp, "start_thread_without_message", _start_thread_without_message,
                        raising=False)
    monkeypatch.setattr(backend.FakeHttp, "send_message", _send_message_keeping_content)
    for name in ("parse_message_reaction_add", "parse_message_reaction_remove"):
        monkeypatch.setattr(discord.state.ConnectionState, name,
                            _with_reaction_type(getattr(discord.state.ConnectionState, name)))
    settings.discord.progress_edit_interval_s = 1.0  # the smallest interval config allows
    made: list[Harness] = []

    async def build(router: Any = None, validator: Any = None, transcriber: Any = None,
                    members: int = 2) -> Harness:
        jobs = FakeJobs()
        services = BotServices(router=router or ScriptedRouter(settings), jobs=jobs,
                               validate_dataset=validator, transcribe=transcriber)
        intents = discord.Intents.default()
        intents.message_content = intents.members = True  # dpytest resolves mentions from the member cache
        bot = SelftuneBot(settings, services, intents=intents)
        await bot._async_setup_hook()
        dpytest.configure(bot, members=members)
        bot._connection.loop = asyncio.get_running_loop()  # dpytest's FakeState leaves it unset on dpy 2.7
        harness = Harness(bot, services.router, jobs)

        async def on_edit(channel: Any, message: Any, fields: Any) -> None:
            harness.edits.append((asyncio.get_running_loop().time(), fields["params"].payload.get("content")))

        callbacks.set_callback(on_edit, "edit_message")
        made.append(harness)
        return harness

    yield build
    for harness in made:
        for task in harness.bot.job_tasks:
            task.cancel()
        harness.bot.store.close()
        callbacks.remove_callback("edit_message")
        while not dpytest.sent_queue.empty():
            dpytest.sent_queue.get_nowait()


@pytest_asyncio.fixture
async def harness(make_harness: Callable[..., Any]) -> Harness:
    """The bot with the scripted router, fake jobs, and no dataset/voice parts."""
    return await make_harness()


def write(path: Path, text: str) -> Path:
    """Write a test file and return its path."""
    path.write_text(text, encoding="utf-8")
    return path
