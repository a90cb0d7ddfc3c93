"""Harvest learns only persona answers: a channel conversation through the real Router and memory hooks,
then `selftune dataset build --json` keeps the good answers and counts every other reply by reason."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli.main import app
from agent.memory_hooks import router_with_memory
from config.messages import IncomingMessage
from config.settings import AuthConfig, LLMConfig, Settings
from config.workspace import open_workspace
from memory.store import Memory
from tests.agent.conftest import ScriptedLLM, scripted_llm  # noqa: F401 - the scripted chat server fixture

runner = CliRunner()
CHANNEL = "c1"
GOOD = ["Arr, a bowline makes a loop that never slips, matey.", "Hoist the mainsail at dawn, says I.",
        "The sea be calm when the moon be full."]
BAD = "I am a language model and cannot be a pirate."


@pytest.fixture
def pirate_channel(settings: Settings, scripted_llm: ScriptedLLM) -> Settings:  # noqa: F811
    """Settings whose chat model is the scripted server, the pirate persona listening in c1, consent on."""
    ws = open_workspace(settings)
    ws.write("personas/pirate.toml", ws.read("personas/pirate.toml").replace("channels = []", f'channels = ["{CHANNEL}"]'))
    ws.commit("pirate listens to c1")
    memory = Memory(settings)
    memory.set_consent(CHANNEL, True, changed_by="discord:admin")
    memory.close()
    return settings.model_copy(update={
        "llm": LLMConfig(provider="openai", model="scripted", base_url=scripted_llm.url + "/v1", timeout_s=5),
        "auth": AuthConfig(admins=["discord:42"], rate_limit_per_minute=100),
    })


def _say(router, text: str):
    return router.handle(IncomingMessage(transport="discord", channel=CHANNEL, user="42", text=text))


def _converse(settings: Settings, llm: ScriptedLLM) -> dict[str, str]:
    """Help, a follow-up question, an abandoned follow-up, an error, a disliked answer and three good ones."""
    router, hooks = router_with_memory(settings)
    kinds = {}
    try:
        for answer in [GOOD[0], BAD, GOOD[1], GOOD[2]]:
            llm.enqueue(text=answer)
        kinds["help"] = _say(router, "what can you do?").intent
        kinds["chat1"] = _say(router, "How do I tie a bowline?").text
        kinds["question"] = _say(router, "tune a pirate persona adapter").text
        kinds["dropped"] = _say(router, "never mind").text
        kinds["error"] = _say(router, "!cancel job-404").text
        kinds["bad"] = _say(router, "Who are you?").text
        kinds["chat2"] = _say(router, "When do we sail?").text
        kinds["chat3"] = _say(router, "How is the sea tonight?").text
    finally:
        hooks.close()
    return kinds


def test_dataset_build_keeps_only_good_persona_answers_and_counts_the_rest(pirate_channel: Settings,
                                                                           scripted_llm: ScriptedLLM) -> None:  # noqa: F811
    said = _converse(pirate_channel, scripted_llm)
    assert said["help"] == "help" and "Which dataset?" in said["question"] and said["dropped"] == "OK, dropped it."
    assert said["bad"] == BAD and [said["chat1"], said["chat2"], said["chat3"]] == GOOD
    memory = Memory(pirate_channel)
    try:
        logged = {m["text"]: m for m in memory.conn.execute("SELECT * FROM messages WHERE role = 'assistant'")}
        memory.feedback(logged[BAD]["id"], "discord:7", "👎")
        memory.feedback(logged[GOOD[0]]["id"], "discord:7", "👍")
        help_reply = next(m for m in logged.values() if m["kind"] == "help")
        memory.feedback(help_reply["id"], "discord:7", "👎")  # not a style judgement: no preference row, still "help"
        kto = sorted((r["messages"][-1]["content"], r["label"]) for r in memory.preferences(kind="kto"))
        kinds = sorted(m["kind"] for m in logged.values())
        assert {logged[t]["persona"] for t in GOOD} == {"pirate"}
    finally:
        memory.close()
    assert kinds == ["chat", "chat", "chat", "chat", "command", "error", "help", "question"]
    assert kto == [(GOOD[0], True), (BAD, False)]

    result = runner.invoke(app, ["dataset", "build", "--from", f"channel:{CHANNEL}", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    rows = [json.loads(line) for line in Path(doc["path"]).read_text().splitlines()]
    assert [r["messages"][-1]["content"] for r in rows] == GOOD and doc["rows"] == 3
    assert {k: v for k, v in doc["skipped"].items() if v} == {"help": 1, "question": 1, "command": 1, "error": 1,
                                                             "disliked": 1}
    every_text = " ".join(m["content"] for r in rows for m in r["messages"])
    assert "tune a pirate" not in every_text and BAD not in every_text and "skills are installed" not in every_text
    manifest = json.loads(Path(doc["manifest"]).read_text())
    assert manifest["skipped"] == doc["skipped"]


OLD_SCHEMA = """
CREATE TABLE messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, transport TEXT NOT NULL, channel TEXT NOT NULL,
    author TEXT NOT NULL, role TEXT NOT NULL CHECK (role IN ('user', 'assistant')), text TEXT NOT NULL,
    created_at TEXT NOT NULL, ts REAL NOT NULL, reply_to TEXT, persona TEXT, adapter TEXT,
    indexed INTEGER NOT NULL DEFAULT 0
);
"""


def test_old_log_migrates_and_still_harvests_leaving_unknown_answers_out(settings: Settings, say) -> None:
    from datetime import UTC, datetime, timedelta

    from memory.log import utc_iso

    settings.db_path.parent.mkdir(parents=True, exist_ok=True)
    old = sqlite3.connect(settings.db_path)
    old.executescript(OLD_SCHEMA)
    then = datetime.now(UTC) + timedelta(seconds=30)  # after the consent set below
    for i, (role, text) in enumerate([("user", "old question"), ("assistant", "old answer of unknown kind")]):
        moment = then + timedelta(seconds=i)
        old.execute("INSERT INTO messages (id, transport, channel, author, role, text, created_at, ts)"
                    " VALUES (?, 'discord', 'c1', ?, ?, ?, ?, ?)", (f"old{i}", role, role, text, utc_iso(moment),
                                                                    moment.timestamp()))
    old.commit()
    old.close()

    memory = Memory(settings)  # opening adds the kind column
    try:
        memory.set_consent("c1", True, "discord:admin")
        prompt = memory.log_message(say("How do I tie a reef knot?", channel="c1", created_at=then + timedelta(minutes=1)))
        memory.log_reply("Right over left, then left over right, matey.", to=prompt)
        batch = memory.harvest_rows("c1")
    finally:
        memory.close()
    assert [r["messages"] for r in batch.rows] == [[{"role": "user", "content": "How do I tie a reef knot?"},
                                                    {"role": "assistant",
                                                     "content": "Right over left, then left over right, matey."}]]
    assert batch.skipped["unknown"] == 1


def test_tool_answers_and_model_failures_are_logged_but_never_learned(pirate_channel: Settings,
                                                                      scripted_llm: ScriptedLLM) -> None:  # noqa: F811
    scripted_llm.enqueue(tool_calls=[("memory__search", {"query": "bowline"})])
    scripted_llm.enqueue(text="Ye asked about the bowline before, matey.")
    scripted_llm.enqueue(text="   ")  # the model says nothing
    scripted_llm.enqueue(text=GOOD[0])
    router, hooks = router_with_memory(pirate_channel)
    try:
        looked_up = _say(router, "What did I ask about knots? Search your memory.")  # names the tool
        empty = _say(router, "Sing me a shanty")
        _say(router, "How do I tie a bowline?")
    finally:
        hooks.close()
    assert looked_up.intent == "chat" and looked_up.args["skill"] == "memory.search"
    assert empty.text == "(the model gave no answer)"
    memory = Memory(pirate_channel)
    try:
        batch = memory.harvest_rows(CHANNEL)
        kinds = [r[0] for r in memory.conn.execute("SELECT kind FROM messages WHERE role = 'assistant' ORDER BY seq")]
    finally:
        memory.close()
    assert kinds == ["command", "error", "chat"]
    assert [r["messages"] for r in batch.rows] == [[{"role": "user", "content": "How do I tie a bowline?"},
                                                    {"role": "assistant", "content": GOOD[0]}]]
    assert (batch.skipped["command"], batch.skipped["error"]) == (1, 1)


@pytest.mark.parametrize(("ttl_s", "contexts"), [(86400.0, [2, 4]), (0.5, [2, 2])])
def test_a_rows_context_is_what_the_assistant_remembered(settings: Settings, say, ttl_s: float,
                                                         contexts: list[int]) -> None:
    """Two questions a second apart: one conversation for the default session TTL, two when the assistant forgets
    after half a second (the answer's own writing time never splits a question from its answer)."""
    settings = settings.model_copy(update={"agent": settings.agent.model_copy(update={"session_ttl_s": ttl_s})})
    memory = Memory(settings)
    try:
        memory.set_consent("c1", True, "discord:admin")
        for question, answer in [("How do I tie a knot?", "Arr, over and under, matey."),
                                 ("How do I sail?", "Arr, raise the sails and mind the wind, matey.")]:
            asked = memory.log_message(say(question, channel="c1"))
            memory.log_message(say(answer, role="assistant", channel="c1", kind="chat", reply_to=asked.id))
        batch = memory.harvest_rows("c1")
    finally:
        memory.close()
    assert [len(r["messages"]) for r in batch.rows] == contexts
    assert all(r["messages"][-2]["role"] == "user" for r in batch.rows)
