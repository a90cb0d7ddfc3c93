"""Destructive actions need a yes: typed, spoken, proposed by the model, or called over MCP, nothing with
lasting effects happens until the person who asked confirms, and then exactly the described action runs.

Everything behind the Router is real: the skill registry, the adapter registry (folders + workspace git),
memory (SQLite + Chroma), the job store; the chat model is a scripted HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from agent.router import Router
from config.messages import Attachment, IncomingMessage
from config.settings import AuthConfig, Settings
from config.workspace import open_workspace
from memory.log import LoggedMessage
from memory.store import Memory
from skills.jobs import JobManager
from skills.providers.openai_compat import OpenAIProvider
from skills.train import adapters
from tests.helpers import run_console
from tests.voice.audio import needs_espeak, speak

REPO = Path(__file__).resolve().parents[2]


def cli(text: str, user: str = "local") -> IncomingMessage:
    return IncomingMessage(transport="cli", channel="cli", user=user, text=text)


def fake_adapter(settings: Settings, name: str, version: str, persona: str = "pirate") -> str:
    """A registered adapter folder as the worker leaves it (manifest.json marks it complete)."""
    folder = settings.artifacts_dir / "adapters" / name / version
    folder.mkdir(parents=True)
    manifest = {"name": name, "version": version, "base_model": "tiny", "method": "lora", "persona": persona}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return f"{name}/{version}"


def adapter_ids(settings: Settings) -> list[str]:
    return [a.id for a in adapters.list_adapters(settings)]


@pytest.fixture
def three_adapters(settings: Settings) -> Settings:
    """helper-lora/v1, pirate-lora/v1 and pirate-lora/v2, the last one served for the pirate persona."""
    open_workspace(settings)
    fake_adapter(settings, "pirate-lora", "v1")
    served = fake_adapter(settings, "pirate-lora", "v2")
    fake_adapter(settings, "helper-lora", "v1", persona="assistant")
    adapters.promote(settings, "pirate", served)
    return settings


def test_delete_all_my_adapters_waits_for_yes_then_deletes_exactly_those(three_adapters: Settings) -> None:
    settings = three_adapters
    router = Router(settings)
    before = adapter_ids(settings)

    asked = router.handle(cli("delete all my adapters"))

    assert asked.intent == "delete" and asked.confirm and asked.ok
    assert asked.text.startswith("This will delete 2 adapters for good: helper-lora/v1, pirate-lora/v1.")
    assert "Kept because a persona serves them: pirate-lora/v2" in asked.text and "Reply yes" in asked.text
    assert adapter_ids(settings) == before == ["helper-lora/v1", "pirate-lora/v1", "pirate-lora/v2"]

    done = router.handle(cli("yes"))

    assert done.ok and done.intent == "delete" and "Deleted helper-lora/v1, pirate-lora/v1." in done.text
    assert adapter_ids(settings) == ["pirate-lora/v2"]
    assert router.handle(cli("yes")).intent != "delete"  # a yes confirms once


def test_forget_everything_waits_for_yes_and_never_touches_others(settings: Settings) -> None:
    memory = Memory(settings)
    try:
        memory.log_many([LoggedMessage(text=t, channel=c, author=a, transport="cli") for t, c, a in [
            ("my secret plan", "cli", "local"), ("another note", "general", "local"),
            ("bob's message", "general", "bob")]])
        router = Router(settings)

        asked = router.handle(cli("forget everything"))

        assert asked.intent == "forget" and asked.confirm
        assert asked.text.startswith("This will forget 2 messages of yours in every channel, from the log and the "
                                     "recall index.")
        assert _authors(memory) == ["local", "local", "bob"]
        assert router.handle(cli("no")).text == "OK, I did nothing." and _authors(memory) == ["local", "local", "bob"]

        router.handle(cli("forget everything"))
        done = router.handle(cli("yes"))

        assert done.ok and done.intent == "forget" and done.text.startswith("Forgot 2 messages of yours in every channel")
        assert _authors(memory) == ["bob"]
    finally:
        memory.close()


def _authors(memory: Memory) -> list[str]:
    return [r[0] for r in memory.conn.execute("SELECT author FROM messages ORDER BY seq")]


def test_roll_it_back_asks_which_then_confirms_then_serves_the_previous(settings: Settings) -> None:
    open_workspace(settings)
    first, second = fake_adapter(settings, "pirate-lora", "v1"), fake_adapter(settings, "pirate-lora", "v2")
    adapters.promote(settings, "pirate", first)
    adapters.promote(settings, "pirate", second)
    router = Router(settings)

    assert router.handle(cli("roll it back")).text.startswith("Which persona")  # the skill needs one
    asked = router.handle(cli("pirate"))

    assert asked.intent == "rollback" and asked.confirm
    assert asked.text.startswith("This will roll back the pirate persona: it stops serving pirate-lora/v2 and "
                                 "serves pirate-lora/v1.")
    assert adapters.served_map(settings) == {"pirate": second}
    assert router.handle(cli("yes")).ok
    assert adapters.served_map(settings) == {"pirate": first}


def test_anything_but_yes_drops_the_question_and_only_the_asker_can_confirm(three_adapters, scripted_llm) -> None:
    settings = three_adapters.model_copy(update={"auth": AuthConfig(admins=["discord:1", "discord:2"])})
    llm = OpenAIProvider("scripted", base_url=scripted_llm.url + "/v1", timeout_s=10)
    router = Router(settings, provider=llm)
    alice = IncomingMessage(transport="discord", channel="42", user="1", text="delete all my adapters")
    before = adapter_ids(settings)

    assert router.handle(alice).confirm
    scripted_llm.enqueue(text="yes to what?")
    bob = router.handle(alice.model_copy(update={"user": "2", "text": "yes"}))  # not Bob's question

    assert bob.intent == "chat" and adapter_ids(settings) == before
    scripted_llm.enqueue(text="Nice weather.")
    router.handle(alice.model_copy(update={"text": "what a day"}))  # Alice moved on: the question lapses
    scripted_llm.enqueue(text="Yes what?")
    assert router.handle(alice.model_copy(update={"text": "yes"})).intent == "chat"
    assert adapter_ids(settings) == before


def test_a_destructive_call_from_the_model_waits_for_yes(three_adapters, scripted_llm) -> None:
    settings = three_adapters
    router = Router(settings, provider=OpenAIProvider("scripted", base_url=scripted_llm.url + "/v1", timeout_s=10))
    scripted_llm.enqueue(tool_calls=[("adapters__delete", {"adapter": "all"})])

    asked = router.handle(cli("could you tidy up my old adapters for me"))  # names adapters: their tools are offered

    assert asked.confirm and asked.intent == "delete" and "This will delete 2 adapters" in asked.text
    assert len(scripted_llm.requests) == 1 and len(adapter_ids(settings)) == 3  # nothing ran, the model stopped
    assert router.handle(cli("yes")).ok and adapter_ids(settings) == ["pirate-lora/v2"]


def test_yes_in_advance_runs_at_once(three_adapters: Settings) -> None:
    reply = Router(three_adapters).handle(cli("delete all my adapters").model_copy(update={"confirmed": True}))
    assert reply.ok and reply.confirm is None and adapter_ids(three_adapters) == ["pirate-lora/v2"]


def test_a_long_job_states_its_estimate_and_asks(settings: Settings, tmp_path: Path) -> None:
    open_workspace(settings)
    settings.agent.confirm_jobs_over_s = 0  # every job counts as long
    data = tmp_path / "pirate.jsonl"
    row = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "arr"}]}
    data.write_text("\n".join(json.dumps(row) for _ in range(40)) + "\n")
    router = Router(settings)

    asked = router.handle(cli(f"tune a pirate persona adapter on {data}"))

    assert asked.intent == "tune" and asked.confirm and asked.job_id is None
    # A tune from chat shows the data preview, whose estimate line is the long job's sentence.
    assert "Estimate on the local executor: about" in asked.text and "s/step" in asked.text
    assert router.handle(cli("no")).text == "OK, I did nothing."
    jobs = JobManager(settings)
    try:
        assert jobs.list() == []
    finally:
        jobs.close()


@needs_espeak
def test_a_spoken_delete_needs_the_same_yes(three_adapters: Settings, tmp_path: Path) -> None:
    clip = speak("delete all my adapters", tmp_path / "voice-message.wav")
    router = Router(three_adapters)

    asked = router.handle(IncomingMessage(transport="cli", channel="cli",
                                          attachments=[Attachment(filename=clip.name, path=clip)]))

    assert asked.transcript and asked.intent == "delete" and asked.confirm, asked.text
    assert "This will delete 2 adapters" in asked.text and len(adapter_ids(three_adapters)) == 3
    assert router.handle(cli("yes")).ok and adapter_ids(three_adapters) == ["pirate-lora/v2"]


async def test_mcp_without_confirm_does_nothing(settings: Settings) -> None:
    memory = Memory(settings)
    memory.log_many([LoggedMessage(text=f"note {i}", channel="mcp", author="mcp:mcp-client", transport="mcp")
                     for i in range(3)])
    memory.close()
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "agent.cli.main", "mcp"], cwd=str(REPO),
        env={**os.environ, "SELFTUNE_HOME": str(settings.home), "SELFTUNE_BASE_MODEL": "tiny"})
    async with Client(params) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert tools["memory_forget"].input_schema["properties"]["confirm"]["type"] == "boolean"
        assert "confirm" not in tools["jobs_status"].input_schema["properties"]
        dry = json.loads((await client.call_tool("memory_forget", {})).content[0].text)
        assert dry["done"] is False and dry["would"].startswith("This will forget 3 messages of yours")
        assert _count(settings) == 3
        done = json.loads((await client.call_tool("memory_forget", {"confirm": True})).content[0].text)
    assert done["forgotten"] == 3 and _count(settings) == 0


def _count(settings: Settings) -> int:
    memory = Memory(settings)
    try:
        return int(memory.conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0])
    finally:
        memory.close()


def test_cancelling_someone_elses_job_asks_and_ones_own_does_not(settings: Settings) -> None:
    from tests.jobs.conftest import FAKE_WORKER

    manager = JobManager(settings, worker=[str(FAKE_WORKER)])
    spec = {"name": "pirate", "method": "lora", "dataset": "data.jsonl", "hyper": {"max_steps": 400, "save_steps": 50},
            "output_dir": str(settings.artifacts_dir / "adapters" / "pirate" / "v1"), "fake": {"step_s": 0.05}}
    theirs, mine = manager.submit(spec, requester="alice"), manager.submit(spec, requester="local")
    router = Router(settings)
    try:
        asked = router.handle(cli(f"cancel job {theirs}"))

        assert asked.confirm and asked.text.startswith(f"This will cancel job {theirs} (pirate), which alice started.")
        assert not manager.get(theirs).cancel_requested
        assert router.handle(cli("yes")).ok and manager.get(theirs).cancel_requested

        own = router.handle(cli(f"cancel job {mine}"))
        assert own.confirm is None and own.ok and manager.get(mine).cancel_requested
    finally:
        for job_id in (theirs, mine):
            manager.wait(job_id, timeout=30)
        manager.close()


def test_an_export_that_would_overwrite_asks_first(settings: Settings) -> None:
    open_workspace(settings)
    adapter = fake_adapter(settings, "pirate-lora", "v1")
    (settings.artifacts_dir / "adapters" / adapter / "adapter_config.json").write_text("{}")
    earlier = settings.artifacts_dir / "exports" / "v1" / "v1.gguf"
    earlier.parent.mkdir(parents=True)
    earlier.write_bytes(b"earlier export")
    router = Router(settings)

    asked = router.handle(cli(f"!export adapter={adapter} to=gguf"))

    assert asked.confirm and asked.text.startswith(f"This will overwrite the earlier export at {earlier}.")
    assert router.handle(cli("no")).text == "OK, I did nothing." and earlier.read_bytes() == b"earlier export"


def test_removing_a_schedule_asks_and_pausing_does_not(settings: Settings) -> None:
    from skills.scheduler import list_schedules

    open_workspace(settings)
    router = Router(settings)
    assert router.handle(cli("schedule a nightly retrain of the pirate persona at 3am")).ok
    [schedule] = list_schedules(settings)

    asked = router.handle(cli("remove the pirate schedule"))

    assert asked.confirm and "This will remove the schedule" in asked.text and len(list_schedules(settings)) == 1
    assert router.handle(cli("yes")).ok and list_schedules(settings) == []
    assert router.handle(cli("schedule a nightly retrain of the pirate persona at 3am")).ok
    paused = router.handle(cli("pause the pirate schedule"))
    assert paused.confirm is None and paused.ok and len(list_schedules(settings)) == 1


def test_the_terminal_asks_y_n_and_no_is_the_default(three_adapters: Settings) -> None:

    def console(lines: str) -> str:
        return run_console(three_adapters.home, lines)

    out = console("delete all my adapters\n\nexit\n")  # Enter alone: no
    assert "This will delete 2 adapters" in out and "go ahead?" in out and "OK, I did nothing." in out
    assert len(adapter_ids(three_adapters)) == 3
    out = console("delete all my adapters\ny\nexit\n")
    assert "Deleted helper-lora/v1, pirate-lora/v1." in out and adapter_ids(three_adapters) == ["pirate-lora/v2"]


def test_forgetting_a_channel_before_a_date_says_how_many_of_which_channel(settings: Settings) -> None:
    from datetime import UTC, datetime

    old, new = datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 15, tzinfo=UTC)
    memory = Memory(settings)
    try:
        memory.log_many([LoggedMessage(text=f"m{i}", channel="pirate-chat", author="bob", transport="discord",
                                       created_at=when) for i, when in enumerate([old, old, new])])
        router = Router(settings)

        asked = router.handle(cli("!forget scope=channel channel=pirate-chat before=2026-11-01"))

        assert asked.text.startswith("This will forget 2 messages of everyone in #pirate-chat from before 2026-11-01")
        assert router.handle(cli("yes")).ok and _count(settings) == 1
    finally:
        memory.close()


def _discord(text: str, user: str = "7", channel: str = "general") -> IncomingMessage:
    return IncomingMessage(transport="discord", channel=channel, user=user, text=text)


def _texts(settings: Settings) -> list[str]:
    memory = Memory(settings)
    try:
        return [r[0] for r in memory.conn.execute("SELECT text FROM messages ORDER BY seq")]
    finally:
        memory.close()


def _log(settings: Settings, rows: list[tuple[str, str, str]]) -> None:
    memory = Memory(settings)
    try:
        memory.log_many([LoggedMessage(text=t, channel=c, author=a, transport="discord") for t, c, a in rows])
    finally:
        memory.close()


def test_a_trainers_channel_scoped_forget_removes_only_their_messages_in_that_channel(settings: Settings) -> None:
    settings = settings.model_copy(update={"auth": AuthConfig(trainers=["discord:7"])})
    _log(settings, [("mine in ops", "ops", "7"), ("mine again in ops", "ops", "7"), ("mine in general", "general", "7"),
                    ("bob in ops", "ops", "8")])
    router = Router(settings)

    asked = router.handle(_discord("!forget channel=ops"))

    assert asked.confirm and asked.text.startswith(
        "This will forget 2 messages of yours in #ops, from the log and the recall index.")
    done = router.handle(_discord("yes"))
    assert done.ok and done.text.startswith("Forgot 2 messages of yours in #ops, from the log")
    assert _texts(settings) == ["mine in general", "bob in ops"]  # their other channel and bob's untouched


def test_a_message_logged_between_question_and_yes_is_kept_and_the_count_matches(settings: Settings) -> None:
    _log(settings, [("first", "cli", "local"), ("second", "general", "local"), ("bob's", "general", "bob")])
    router = Router(settings)

    asked = router.handle(cli("forget everything"))
    assert asked.text.startswith("This will forget 2 messages of yours in every channel")
    _log(settings, [("written after the question", "general", "local")])
    done = router.handle(cli("yes"))

    assert done.ok and done.text.startswith("Forgot 2 messages of yours in every channel")
    assert _texts(settings) == ["bob's", "written after the question"]


def test_wiping_a_channel_forgets_what_the_question_counted_not_what_came_after(settings: Settings) -> None:
    _log(settings, [(f"m{i}", "general", f"user{i}") for i in range(3)] + [("elsewhere", "ops", "user0")])
    router = Router(settings)

    asked = router.handle(IncomingMessage(transport="cli", channel="general", user="local", text="wipe the channel"))
    assert asked.text.startswith("This will forget 3 messages of everyone in #general")
    _log(settings, [("late", "general", "user1"), ("later", "general", "user2")])
    done = router.handle(IncomingMessage(transport="cli", channel="general", user="local", text="yes"))

    assert done.text.startswith("Forgot 3 messages of everyone in #general") and _texts(settings) == ["elsewhere", "late", "later"]


def test_a_member_cannot_widen_a_forget_to_other_people(settings: Settings) -> None:
    settings = settings.model_copy(update={"auth": AuthConfig(trainers=["discord:7"])})
    _log(settings, [("bob in ops", "ops", "8")])
    reply = Router(settings).handle(_discord("!forget scope=channel channel=ops"))
    assert not reply.ok and "Only admins" in reply.text and _texts(settings) == ["bob in ops"]
