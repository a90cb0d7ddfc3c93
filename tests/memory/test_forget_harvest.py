"""Forgetting really removes text from both stores; harvesting needs consent, scrubs, dedups, is incremental."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from config.errors import PermissionDenied, UsageError
from config.settings import Settings
from memory.store import Memory
from skills.dataset.harvest import harvest_channel

SECRET = "ZEBRA-ORCHID-4417"


def _raw_sqlite_bytes(settings: Settings) -> bytes:
    files = [settings.db_path, settings.db_path.with_name("selftune.db-wal")]
    return b"".join(p.read_bytes() for p in files if p.exists())


def _chroma_has(memory: Memory, text: str) -> bool:
    got = memory.index.collection.get(where_document={"$contains": text}, include=["documents"])
    return bool(got["ids"])


def test_forget_user_removes_text_from_sqlite_and_chroma(memory: Memory, settings: Settings, say) -> None:
    gone = memory.log_message(say(f"my locker code is {SECRET}", author="mallory"))
    kept = memory.log_message(say("the weather is nice today", author="bob"))
    memory.feedback(gone.id, "bob", "👍")
    assert SECRET.encode() in _raw_sqlite_bytes(settings) and _chroma_has(memory, SECRET)

    result = memory.forget(user="mallory")

    assert (result.messages, result.feedback) == (1, 1)
    assert SECRET.encode() not in _raw_sqlite_bytes(settings)  # not even in free pages or the WAL
    assert not _chroma_has(memory, SECRET) and memory.index.documents_for([gone.id]) == []
    assert all(SECRET not in h.text for h in memory.recall("locker code", k=5))
    assert [h.message_id for h in memory.recall("weather", k=5)] == [kept.id]


def test_reindex_after_forget_leaves_no_bytes_of_the_text_in_the_chroma_folder(memory: Memory, settings, say) -> None:
    memory.log_many([say(f"my locker code is {SECRET}", author="mallory"), say("keep me", author="bob")])
    memory.forget(user="mallory")
    memory.reindex()  # Chroma keeps deleted text in its own write-ahead log until the index is rebuilt
    leftovers = [p for p in settings.chroma_dir.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]
    assert leftovers == [] and [h.text for h in memory.recall("keep", k=5)] == ["keep me"]


def test_forget_channel_and_before_date(memory: Memory, say) -> None:
    now = datetime.now(UTC)
    memory.log_many([
        say("ops chatter one", channel="ops"), say("ops chatter two", channel="ops"),
        say("ancient history", channel="general", created_at=now - timedelta(days=40)),
        say("fresh news", channel="general"),
    ])
    assert memory.forget(channel="ops").messages == 2
    assert memory.forget(before=now - timedelta(days=30)).messages == 1
    texts = [h.text for h in memory.recall("chatter history news", k=10)]
    assert texts == ["fresh news"]
    assert memory.conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 1
    with pytest.raises(UsageError):
        memory.forget()


def test_forget_catches_chunks_the_log_lost(memory: Memory, say) -> None:
    orphan = say(f"orphan {SECRET}", author="mallory")
    memory.index.add([orphan])  # in the index but not in the log (e.g. a crash between the two writes)
    memory.forget(user="mallory")
    assert not _chroma_has(memory, SECRET)


def test_retention_policy_forgets_old_messages_on_open(settings: Settings, say) -> None:
    first = Memory(settings)
    first.log_many([say("very old", created_at=datetime.now(UTC) - timedelta(days=100)), say("recent")])
    first.close()
    settings.memory.retention_days = 30
    again = Memory(settings)
    try:
        assert again.apply_retention().messages == 0  # already applied when it opened
        assert [r[0] for r in again.conn.execute("SELECT text FROM messages")] == ["recent"]
    finally:
        again.close()


def _conversation(memory: Memory, say, channel: str = "c1", topic: str = "knots",
                  start: datetime | None = None) -> None:
    turns = [("user", f"How do I tie {topic}? mail me at jane@example.com"),
             ("assistant", f"Arr, {topic} be tied with a bowline, matey."),
             ("user", "And after that?"), ("assistant", "Then ye pull it tight.")]
    memory.log_many([
        say(text, role=role, channel=channel, created_at=start and start + timedelta(seconds=i))
        for i, (role, text) in enumerate(turns)
    ])


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_harvest_refuses_without_consent(memory: Memory, say) -> None:
    _conversation(memory, say)
    with pytest.raises(PermissionDenied, match="never opted in"):
        harvest_channel(memory, "c1")


def test_harvest_with_consent_builds_scrubbed_rows_with_provenance(memory: Memory, settings: Settings, say) -> None:
    memory.set_consent("c1", True, "discord:admin")
    _conversation(memory, say)
    _conversation(memory, say, channel="other")  # another channel is never mixed in
    result = harvest_channel(memory, "c1")
    rows = _rows(result.path)
    assert result.rows == 2 and len(rows) == 2 and result.path.parent == settings.artifacts_dir / "datasets"
    assert rows[0]["messages"][0] == {"role": "user", "content": "How do I tie knots? mail me at [EMAIL]"}
    assert rows[1]["messages"][-1] == {"role": "assistant", "content": "Then ye pull it tight."}
    assert [m["role"] for m in rows[1]["messages"]] == ["user", "assistant", "user", "assistant"]
    manifest = json.loads(result.manifest.read_text())
    ids = [r[0] for r in memory.conn.execute("SELECT id FROM messages WHERE channel='c1' ORDER BY seq")]
    assert manifest["rows"] == 2 and manifest["sources"][0]["message_ids"] == ids[:2]
    assert manifest["sources"][1]["message_ids"] == ids


def test_harvest_is_incremental_and_deduplicated(memory: Memory, say) -> None:
    memory.set_consent("c1", True, "discord:admin")
    _conversation(memory, say)
    first = harvest_channel(memory, "c1")
    assert harvest_channel(memory, "c1").rows == 0  # nothing new since the last build
    _conversation(memory, say, topic="sails", start=datetime.now(UTC) + timedelta(hours=1))
    # the same exchange again, after a pause (a new conversation), is a duplicate
    _conversation(memory, say, topic="sails", start=datetime.now(UTC) + timedelta(hours=2))
    second = harvest_channel(memory, "c1")
    # "Then ye pull it tight." was said in the knots conversation already: its copies (twice) are not learned
    assert (second.rows, second.duplicates, second.skipped["copied_reply"]) == (1, 1, 2)
    assert second.since_seq == first.until_seq
    assert "sails" in _rows(second.path)[0]["messages"][0]["content"]


def test_harvest_uses_only_messages_written_while_consent_was_on(memory: Memory, say) -> None:
    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    memory.log_many([say("before consent?", channel="c1", created_at=hour_ago),
                     say("old answer", role="assistant", channel="c1", created_at=hour_ago + timedelta(seconds=1))])
    memory.set_consent("c1", True, "discord:admin")
    _conversation(memory, say)
    result = harvest_channel(memory, "c1")
    assert (result.without_consent, result.rows) == (2, 2)
    assert all("old answer" not in m["content"] for row in _rows(result.path) for m in row["messages"])
    memory.set_consent("c1", False, "discord:admin")
    _conversation(memory, say, topic="after opt-out", start=datetime.now(UTC) + timedelta(hours=1))
    assert harvest_channel(memory, "c1").rows == 0


def test_harvest_with_persona_system_prompt_and_rewrite(memory: Memory, settings: Settings, say) -> None:
    from config.workspace import open_workspace

    open_workspace(settings)
    memory.set_consent("c1", True, "discord:admin")
    _conversation(memory, say)
    result = harvest_channel(memory, "c1", persona="pirate", rewrite=str.upper)
    row = _rows(result.path)[0]["messages"]
    assert row[0]["role"] == "system" and row[0]["content"]
    assert row[-1]["content"] == "ARR, KNOTS BE TIED WITH A BOWLINE, MATEY."


def test_feedback_becomes_dpo_pairs_and_kto_rows_per_persona(memory: Memory, say) -> None:
    memory.set_consent("c1", True, "discord:admin")
    prompt = memory.log_message(say("Say hello like a pirate", channel="c1"))
    good = memory.log_message(say("Ahoy, matey!", role="assistant", channel="c1", reply_to=prompt.id, persona="pirate"))
    bad = memory.log_message(say("Hello.", role="assistant", channel="c1", reply_to=prompt.id, persona="pirate"))
    other = memory.log_message(say("Greetings.", role="assistant", channel="c1", reply_to=prompt.id, persona="butler"))
    memory.feedback(good.id, "alice", "👍")
    memory.feedback(bad.id, "alice", "👎")
    memory.feedback(other.id, "alice", "👍")
    pairs = memory.preferences(persona="pirate")
    assert pairs == [{"prompt": [{"role": "user", "content": "Say hello like a pirate"}],
                      "chosen": [{"role": "assistant", "content": "Ahoy, matey!"}],
                      "rejected": [{"role": "assistant", "content": "Hello."}],
                      "message_ids": [prompt.id, good.id, bad.id]}]
    kto = memory.preferences(kind="kto")
    assert sorted((r["messages"][-1]["content"], r["label"]) for r in kto) == [
        ("Ahoy, matey!", True), ("Greetings.", True), ("Hello.", False)]
    private = memory.log_message(say("Say hello", channel="c2"))
    answer = memory.log_message(say("Hi.", role="assistant", channel="c2", reply_to=private.id, persona="pirate"))
    memory.feedback(answer.id, "alice", "👎")
    assert len(memory.preferences(kind="kto")) == 3  # channel c2 never consented: its feedback is not used


def test_incremental_build_keeps_context_from_before_the_cursor(memory: Memory, say) -> None:
    memory.set_consent("c1", True, "discord:admin")
    memory.log_many([say(f"filler {i}", channel="c1") for i in range(12)] + [say("What is a bowline?", channel="c1")])
    assert harvest_channel(memory, "c1").rows == 0  # a question without an answer yet
    memory.log_message(say("A knot that makes a fixed loop.", role="assistant", channel="c1"))
    rows = _rows(harvest_channel(memory, "c1").path)
    assert rows[0]["messages"][-2:] == [
        {"role": "user", "content": "\n".join([*(f"filler {i}" for i in range(5, 12)), "What is a bowline?"])},
        {"role": "assistant", "content": "A knot that makes a fixed loop."}]
