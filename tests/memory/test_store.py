"""The memory store: logging, recall with filters, feedback, consent, reindex, concurrency."""

from __future__ import annotations

import shutil
import sqlite3
import threading
from datetime import UTC, datetime, timedelta

import pytest

from config.errors import NotFound, UsageError
from config.messages import IncomingMessage
from memory.log import get_message
from memory.store import Memory


def test_log_keeps_every_field_verbatim(memory: Memory) -> None:
    incoming = IncomingMessage(transport="discord", channel="c1", user="bob", text="My cat is called Pixel",
                               message_id="m1", reply_to="m0")
    logged = memory.log_incoming(incoming)
    reply = memory.log_reply("Pixel is a lovely name!", to=logged, persona="pirate", adapter="pirate@3",
                             message_id="m2")
    row = get_message(memory.conn, "m1")
    assert row and (row.transport, row.channel, row.author, row.role, row.text, row.reply_to) == (
        "discord", "c1", "bob", "user", "My cat is called Pixel", "m0")
    stored_reply = get_message(memory.conn, reply.id)
    assert stored_reply and stored_reply.reply_to == "m1"
    assert (stored_reply.persona, stored_reply.adapter, stored_reply.role) == ("pirate", "pirate@3", "assistant")
    assert memory.log_incoming(incoming).seq is None  # the same transport message twice is stored once


def test_recall_finds_by_meaning_and_filters(memory: Memory, say) -> None:
    old = say("The deploy password rotation happens every Friday", channel="ops", author="carol",
              created_at=datetime.now(UTC) - timedelta(days=10))
    memory.log_many([
        old,
        say("My favourite pizza topping is pineapple", channel="food"),
        say("The GPU box has an RTX 4090 with 24 GB", channel="ops", author="dave"),
        say("We rotate credentials weekly on Fridays", channel="general", author="erin"),
    ])
    hits = memory.recall("when do we change passwords?", k=2)
    assert {h.channel for h in hits} <= {"ops", "general"} and hits[0].distance <= hits[-1].distance
    assert [h.channel for h in memory.recall("credentials rotation", channel="ops", k=4)] == ["ops", "ops"]
    assert [h.author for h in memory.recall("credentials rotation", user="erin")] == ["erin"]
    recent = memory.recall("password rotation", since=datetime.now(UTC) - timedelta(days=2), k=4)
    assert old.id not in {h.message_id for h in recent}
    assert [h.message_id for h in memory.recall("password rotation", until=datetime.now(UTC) - timedelta(days=5))] \
        == [old.id]
    assert memory.recall("anything", k=0) == []


def test_long_message_is_chunked_but_recalled_once(memory: Memory, say) -> None:
    text = ("Filler words about nothing in particular. " * 40) + "The treasure is buried under the old oak tree."
    msg = memory.log_message(say(text))
    assert memory.index.count() > 1
    hits = memory.recall("where is the treasure buried?", k=3)
    assert [h.message_id for h in hits].count(msg.id) == 1
    assert "".join(memory.index.documents_for([msg.id])) == text


def test_feedback_rows(memory: Memory, say) -> None:
    answer = memory.log_message(say("Arr, hello!", role="assistant"))
    memory.feedback(answer.id, "alice", "👍")
    memory.feedback(answer.id, "alice", "👎")  # changing one's mind replaces the vote
    rows = memory.conn.execute("SELECT user, rating FROM feedback WHERE message_id = ?", (answer.id,)).fetchall()
    assert [tuple(r) for r in rows] == [("alice", -1)]
    with pytest.raises(UsageError):
        memory.feedback(answer.id, "alice", "meh")
    with pytest.raises(NotFound):
        memory.feedback("nope", "alice", "+1")


def test_consent_records_who_and_when(memory: Memory) -> None:
    assert not memory.consented("c1")
    memory.set_consent("c1", True, "discord:admin")
    change = memory.set_consent("c1", False, "discord:other")
    assert not memory.consented("c1") and change.changed_by == "discord:other"
    rows = memory.conn.execute("SELECT enabled, changed_by FROM consent_changes WHERE channel='c1' ORDER BY id")
    assert [tuple(r) for r in rows] == [(1, "discord:admin"), (0, "discord:other")]


def test_reindex_rebuilds_a_deleted_index_from_the_log(memory: Memory, settings, say) -> None:
    memory.log_many([say(f"note {i}: the launch code word is {w}") for i, w in enumerate(["apple", "banana", "kiwi"])])
    memory.close()
    shutil.rmtree(settings.chroma_dir)
    fresh = Memory(settings)
    try:
        assert len(fresh.recall("launch code word", k=5)) == 3  # the lost index heals before the search
        seen: list[tuple[int, int]] = []
        assert fresh.reindex(progress=lambda n, total: seen.append((n, total))) == 3
        assert seen[-1][1] == 3 and "kiwi" in fresh.recall("kiwi code word", k=1)[0].text
    finally:
        fresh.close()


def test_unreadable_index_is_rebuilt(memory: Memory, settings, say) -> None:
    memory.log_message(say("remember the milk"))
    memory.close()
    shutil.rmtree(settings.chroma_dir)
    settings.chroma_dir.mkdir()
    (settings.chroma_dir / "chroma.sqlite3").write_bytes(b"this is not a database" * 100)
    fresh = Memory(settings)
    try:
        assert fresh.reindex() == 1
        assert fresh.recall("milk", k=1)[0].text == "remember the milk"
    finally:
        fresh.close()


def test_sync_indexes_messages_the_index_missed(memory: Memory, say) -> None:
    msg = say("the spare key is under the blue flowerpot")
    memory.conn.execute(
        "INSERT INTO messages (id, transport, channel, author, role, text, created_at, ts) VALUES (?,?,?,?,?,?,?,?)",
        (msg.id, "discord", "general", "alice", "user", msg.text, msg.created_at.isoformat(), msg.ts))
    assert memory.index.query("spare key") == []
    assert memory.recall("spare key", k=1)[0].message_id == msg.id  # the first recall catches up
    assert memory.sync() == 0


def test_one_writer_while_readers_query(memory: Memory, say) -> None:
    memory.log_many([say(f"seed message number {i}") for i in range(20)])
    errors: list[BaseException] = []

    def read() -> None:
        try:
            for _ in range(5):
                assert memory.recall("seed message", k=3)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    def write(offset: int) -> None:
        try:
            memory.index.add([say(f"writer {offset} line {i}") for i in range(10)])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(3)] + [threading.Thread(target=write, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors and memory.index.count() == 40


def test_log_survives_reopen(settings, say) -> None:
    first = Memory(settings)
    first.log_message(say("persisted across restarts"))
    first.close()
    conn = sqlite3.connect(settings.db_path)
    assert conn.execute("SELECT text FROM messages").fetchone()[0] == "persisted across restarts"
    conn.close()


def test_filtered_recall_matches_chromas_own_filtered_search(memory: Memory, say) -> None:
    topics = ["deploy", "lunch", "guitar", "football", "garden", "kernel", "pasta", "chess"]
    memory.log_many([say(f"{topics[i % 8]} talk number {i} about {topics[(i * 3) % 8]}", channel=f"c{i % 3}",
                         author=f"u{i % 5}") for i in range(120)])
    for where in ({"channel": "c1"}, {"$and": [{"channel": "c2"}, {"author": "u3"}]}):
        got = memory.index.query("guitar and chess", k=4, where=where)  # over-fetch path or fallback
        want = memory.index.collection.query(query_texts=["guitar and chess"], n_results=4, where=where)
        assert [h.message_id for h in got] == [i.split("#")[0] for i in want["ids"][0]]
