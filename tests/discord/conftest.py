"""dpytest harness for the Discord bot: real discord.py objects, a fake Discord backend, no network.

Behind the bot everything is real (Router, skill registry, job store and supervisors, scheduler, SQLite);
fakes sit only at process boundaries: Discord itself (dpytest), the chat model (an OpenAI-compatible server
on 127.0.0.1 that echoes) and the training worker (tests/discord/fake_trainer.py, run by the real supervisor).

dpytest 0.7 does not implement thread creation, so the two thread endpoints are added here the way
its other endpoints work (they update the fake server state and return Discord's JSON)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import discord
import discord.ext.test as dpytest
import discord.state
import pluggy
import pytest
import pytest_asyncio
from discord import app_commands
from discord.ext.test import backend, callbacks
from discord.http import MultipartParameters

import skills.jobs.manager as job_manager
from agent.discord_bot import BotServices, SelftuneBot
from agent.router import Router
from config.messages import IncomingMessage
from config.settings import Settings
from config.workspace import open_workspace
from skills import hookspecs
from skills.jobs import JobManager
from skills.registry import SkillRegistry, load_registry
from tests.agent.fake_skills import declared
from tests.eval.fake_openai import ScriptedOpenAI
from tests.helpers import stop_unfinished_jobs

FAKE_TRAINER = Path(__file__).with_name("fake_trainer.py")


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
SENT_COMPONENTS: dict[int, list[dict[str, Any]]] = {}  # message id -> the components Discord stored with it


async def _send_message_keeping_content(self, channel_id, *, params):
    """dpytest drops the text of messages that carry files (it lives in the multipart payload_json)."""
    channel = backend._get_higher_locs(1).get("channel")  # noqa: F841 - read by dpytest from this frame
    if params.payload is None and params.multipart:
        part = next((p for p in params.multipart if p.get("name") == "payload_json"), None)
        if part is not None:
            params = MultipartParameters(payload=json.loads(part["value"]), multipart=params.multipart,
                                         files=params.files)
    data = await _ORIGINAL_SEND(self, channel_id, params=params)
    if params.payload and params.payload.get("components"):  # dpytest keeps no buttons; Discord would
        SENT_COMPONENTS[int(data["id"])] = params.payload["components"]
    return data


def _with_reaction_type(parse: Callable[..., None]) -> Callable[..., None]:
    """dpytest's reaction payloads predate the 'type' field discord.py 2.7 reads."""

    def parse_with_type(self, data: dict[str, Any]) -> None:
        parse(self, {"type": 0, **data})

    return parse_with_type


def echo(request: dict[str, Any]) -> str:
    """The scripted chat model's answer: what the user said last."""
    return f"You said: {request['messages'][-1]['content']}"


class Failing:
    """A third-party skill plugin whose `jobs.status` fails with `error` (registered through real pluggy)."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    @hookspecs.hookimpl
    def register_skills(self, register: Callable[..., None]) -> None:
        def jobs_status(job_id: str | None = None) -> dict:
            """A job's state and progress."""
            raise self.error

        register(jobs_status, skill_md={**declared("jobs.status"), "name": "jobs.status", "permission": "read"})


def failing_registry(error: BaseException) -> SkillRegistry:
    """A real registry whose only skill, jobs.status, raises `error`."""
    pm = pluggy.PluginManager("selftune")
    pm.add_hookspecs(hookspecs)
    pm.register(Failing(error), name="broken-plugin:failing")
    return load_registry(pm=pm)


def dataset_file(folder: Path, rows: int = 8) -> Path:
    """A small valid chat dataset."""
    line = json.dumps({"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Ahoy!"}]})
    return write(folder / "pirate.jsonl", (line + "\n") * rows)


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
                   view: discord.ui.View | None = None, **_: Any) -> discord.Message:
        self.interaction.sent.append((content, ephemeral))
        buttons = {"view": view} if view is not None else {}  # kept in SENT_COMPONENTS, so tests can press them
        return await self.interaction.channel.send(content, files=files or [], **buttons)


class FakeInteraction:
    """A slash-command or button interaction from `user` in `channel` (Discord's side faked)."""

    def __init__(self, user: discord.Member, channel: discord.TextChannel, custom_id: str | None = None,
                 client: discord.Client | None = None) -> None:
        self.user, self.channel, self.channel_id, self.guild = user, channel, channel.id, channel.guild
        self.client = client
        self.id = discord.utils.time_snowflake(datetime.now(UTC))
        self.created_at = datetime.now(UTC)
        self.type = discord.InteractionType.component if custom_id else discord.InteractionType.application_command
        self.data = {"custom_id": custom_id} if custom_id else {}
        self.sent: list[tuple[str, bool]] = []
        self.response = FakeResponse(self)
        self.followup = FakeFollowup(self)


async def invoke(bot: SelftuneBot, name: str, interaction: FakeInteraction, **params: Any) -> None:
    """Run a slash command (or 'group subcommand') the way CommandTree._call does: checks, the callback,
    then the error handlers."""
    group, *sub = name.split()
    command = bot.tree.get_command(group)
    for part in sub:
        command = command.get_command(part) if command is not None else None
    assert command is not None, name
    interaction.client = bot
    try:
        if not await command._check_can_run(interaction):
            raise app_commands.CheckFailure(f"The check functions for command {name!r} failed.")
        await command._do_call(interaction, params)
    except app_commands.AppCommandError as exc:
        await command._invoke_error_handlers(interaction, exc)
        await bot.tree.on_error(interaction, exc)


class Harness:
    """A configured bot on the real services, and what Discord saw."""

    def __init__(self, bot: SelftuneBot, seen: list[IncomingMessage]) -> None:
        self.bot, self.router, self.seen = bot, bot.services.router, seen
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

    async def settle_jobs(self, timeout: float = 60.0) -> None:
        if self.bot.job_tasks:
            await asyncio.wait_for(asyncio.gather(*self.bot.job_tasks), timeout)


@pytest.fixture
def chat_model() -> Iterator[ScriptedOpenAI]:
    """The chat model at its process boundary: an OpenAI-compatible server on 127.0.0.1 that echoes."""
    with ScriptedOpenAI(echo) as server:
        yield server


def patch_discord_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    """What dpytest's fake Discord lacks: thread endpoints, text with files, reaction payload types."""
    monkeypatch.setattr(backend.FakeHttp, "start_thread_with_message", _start_thread_with_message, raising=False)
    monkeypatch.setattr(backend.FakeHttp, "start_thread_without_message", _start_thread_without_message,
                        raising=False)
    monkeypatch.setattr(backend.FakeHttp, "send_message", _send_message_keeping_content)
    for name in ("parse_message_reaction_add", "parse_message_reaction_remove"):
        monkeypatch.setattr(discord.state.ConnectionState, name,
                            _with_reaction_type(getattr(discord.state.ConnectionState, name)))


async def start_bot(settings: Settings, services: BotServices, members: int = 2) -> SelftuneBot:
    """A bot on dpytest's fake Discord, set up as `bot.start` would (cogs, buttons, schedules)."""
    intents = discord.Intents.default()
    intents.message_content = intents.members = True  # dpytest resolves mentions from the member cache
    bot = SelftuneBot(settings, services, intents=intents)
    await bot._async_setup_hook()
    dpytest.configure(bot, members=members)
    bot._connection.loop = asyncio.get_running_loop()  # dpytest's FakeState leaves it unset on dpy 2.7
    await bot.setup_hook()
    return bot


@pytest_asyncio.fixture
async def make_harness(settings: Settings, monkeypatch: pytest.MonkeyPatch,
                       chat_model: ScriptedOpenAI) -> AsyncIterator[Callable[..., Any]]:
    """Build a dpytest-configured bot on the real Router, job manager (fake trainer process), scheduler and
    SQLite; `router=` replaces the default Router, `trainer=False` keeps the real training worker."""
    patch_discord_backend(monkeypatch)
    settings.discord.progress_edit_interval_s = 1.0  # the smallest interval config allows
    open_workspace(settings)  # personas and recipes, as `selftune run` creates them
    made: list[Harness] = []

    async def build(router: Router | None = None, members: int = 2, trainer: bool = True,
                    registry: SkillRegistry | None = None) -> Harness:
        if trainer:
            monkeypatch.setattr(job_manager, "DEFAULT_WORKER", [str(FAKE_TRAINER)])
        seen: list[IncomingMessage] = []
        if router is None:
            settings.llm = settings.llm.model_copy(update={"provider": "openai", "base_url": chat_model.url,
                                                           "model": "scripted", "fallback": []})
            router = Router(settings, registry=registry, log_hook=lambda message, reply: seen.append(message))
        services = BotServices(settings=settings, router=router, jobs=JobManager(settings))
        bot = await start_bot(settings, services, members)
        harness = Harness(bot, seen)

        async def on_edit(channel: Any, message: Any, fields: Any) -> None:
            harness.edits.append((asyncio.get_running_loop().time(), fields["params"].payload.get("content")))

        callbacks.set_callback(on_edit, "edit_message")
        made.append(harness)
        return harness

    yield build
    for harness in made:
        for name in list(harness.bot.cogs):  # what bot.close() does first: schedules stop, job threads too
            await harness.bot.remove_cog(name)
        cancel_unfinished(harness.bot.services.jobs)
        harness.bot.store.close()
        callbacks.remove_callback("edit_message")
        while not dpytest.sent_queue.empty():
            dpytest.sent_queue.get_nowait()
    SENT_COMPONENTS.clear()


def cancel_unfinished(jobs: JobManager) -> None:
    """Stop every job a test left running (their supervisors are real processes)."""
    stop_unfinished_jobs(jobs)


@pytest_asyncio.fixture
async def harness(make_harness: Callable[..., Any]) -> Harness:
    """The bot on the real Router (echoing chat model), real jobs with the fake trainer process."""
    return await make_harness()


def write(path: Path, text: str) -> Path:
    """Write a test file and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
