"""Uploads (datasets, voice), 👍/👎 reactions, and slash commands with their permissions."""

from __future__ import annotations

import json
import logging
import wave
from pathlib import Path

import discord.ext.test as dpytest
import pytest

from agent.discord_bot.views import CancelButton
from config.messages import IncomingMessage
from tests.discord.conftest import FakeInteraction, dataset_file, invoke, write
from tests.discord.test_buttons_and_permissions import confirm_preview, wait_for
from tests.voice.audio import needs_espeak, speak, to_ogg_opus


class Upload:
    """A file attached to a slash command, as Discord serves it (the CDN download is the boundary)."""

    def __init__(self, path: Path) -> None:
        self.path, self.filename, self.id = path, path.name, 1
        self.size, self.content_type = path.stat().st_size, "application/jsonl"

    async def read(self) -> bytes:
        return self.path.read_bytes()


class BrokenUpload(Upload):
    """An attachment whose download fails on Discord's side."""

    def __init__(self, error: str) -> None:
        self.error, self.filename, self.id, self.size, self.content_type = error, "data.jsonl", 1, 10, None

    async def read(self) -> bytes:
        raise RuntimeError(self.error)


def silent_wav(path: Path, seconds: float = 2.0) -> Path:
    """Two seconds of digital silence, 16 kHz mono."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16_000)
        out.writeframes(b"\0\0" * int(16_000 * seconds))
    return path


def _incoming(text: str) -> IncomingMessage:
    """A command typed in the terminal (the local admin)."""
    return IncomingMessage(transport="cli", channel="local", user="local", text=text)


GOOD = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Ahoy!"}]}


async def test_dataset_with_bad_rows_gets_a_reply_naming_the_lines(make_harness, tmp_path):
    h = await make_harness()
    bad = write(tmp_path / "pirate.jsonl", "\n".join([json.dumps(GOOD), "{not json", json.dumps(GOOD),
                                                      json.dumps({"messages": "nope"})]) + "\n")
    await dpytest.message(f"{h.mention()} train on this", channel=h.channel, attachments=[str(bad)])
    [reply] = h.sent()
    assert "`pirate.jsonl` has 2 invalid row(s) of 4" in reply.content
    assert "line 2" in reply.content and "line 4" in reply.content and "line 1:" not in reply.content
    assert h.seen == []  # nothing routed on a bad upload


async def test_valid_dataset_is_stored_with_provenance_and_passed_to_the_router(make_harness, tmp_path, settings):
    h = await make_harness()
    good = write(tmp_path / "pirate.jsonl", json.dumps(GOOD) + "\n" + json.dumps(GOOD) + "\n")
    message = await dpytest.message(f"{h.mention()} use this", channel=h.channel, member=h.members[0],
                                    attachments=[str(good)])
    stored_note, answer = h.sent()
    assert stored_note.content.startswith("📦 Stored `pirate.jsonl`: 2 valid rows")
    [attachment] = h.seen[0].attachments
    assert attachment.path.is_file() and attachment.path.is_relative_to(settings.artifacts_dir / "datasets")
    provenance = json.loads((attachment.path.parent / "provenance.json").read_text())
    assert provenance["message_id"] == message.id and provenance["author_id"] == h.members[0].id
    assert provenance["source"] == "discord" and provenance["rows"] == 2
    assert answer.content.startswith("Done: ") and "valid 2" in answer.content and "{" not in answer.content


async def test_oversized_upload_is_refused(make_harness, tmp_path, settings):
    h = await make_harness()
    settings.discord.max_attachment_mb = 0.001
    big = write(tmp_path / "big.jsonl", (json.dumps(GOOD) + "\n") * 50)
    await dpytest.message(f"{h.mention()} here", channel=h.channel, attachments=[str(big)])
    [reply] = h.sent()
    assert "larger than the 0.001 MB limit" in reply.content


@needs_espeak
async def test_voice_message_is_transcribed_echoed_then_answered(make_harness, tmp_path):
    h = await make_harness()
    voice = to_ogg_opus(speak("tell me a joke", tmp_path / "v.wav"), tmp_path / "voice-message.ogg")
    await dpytest.message("", channel=h.channel, member=h.members[0], attachments=[str(voice)])
    echo, answer = h.sent()  # local Whisper hears it; the echoing chat model answers what was heard
    heard = h.seen[0].text
    assert "joke" in heard.lower() and echo.content == f"🎙️ I heard: “{heard}”"
    assert answer.content == f"You said: {heard}"


async def test_silent_voice_message_gets_one_sentence(make_harness, tmp_path):
    h = await make_harness()
    silence = to_ogg_opus(silent_wav(tmp_path / "silence.wav"), tmp_path / "v.ogg")
    await dpytest.message("", channel=h.channel, attachments=[str(silence)])
    [reply] = h.sent()
    assert reply.content.startswith("I heard nothing in v.ogg") and "\n" not in reply.content


async def test_reactions_on_answers_are_stored_as_feedback(harness):
    h = harness
    await dpytest.message(f"{h.mention()} talk like a pirate", channel=h.channel, member=h.members[0])
    [answer] = h.sent()
    await dpytest.add_reaction(h.members[0], answer, "👍")
    await dpytest.add_reaction(h.members[1], answer, "👎")
    await dpytest.add_reaction(h.members[1], answer, "🎉")  # not a rating
    rows = {(r.user_id, r.rating) for r in h.bot.store.feedback()}
    assert rows == {(h.members[0].id, 1), (h.members[1].id, -1)}
    assert h.bot.store.feedback()[0].prompt == "talk like a pirate"
    await dpytest.remove_reaction(h.members[1], answer, "👎")
    assert [(r.user_id, r.rating) for r in h.bot.store.feedback()] == [(h.members[0].id, 1)]


async def test_reactions_on_other_messages_are_ignored(harness):
    h = harness
    other = await dpytest.message("hello friends", channel=h.channel, member=h.members[0])
    await dpytest.add_reaction(h.members[1], other, "👍")
    assert h.bot.store.feedback() == []


async def test_collect_on_is_admin_only(harness, settings):
    h = harness
    refused = FakeInteraction(h.members[1], h.channel)
    await invoke(h.bot, "collect", refused, state="on")
    assert refused.sent == [(refused.sent[0][0], True)] and "'admin' permission" in refused.sent[0][0]
    assert h.seen == []
    settings.auth.admins.append(f"discord:{h.members[0].id}")
    admin = FakeInteraction(h.members[0], h.channel)
    await invoke(h.bot, "collect", admin, state="on")
    assert h.seen[0].text == "/collect enabled=True" and h.seen[0].user == str(h.members[0].id)
    await invoke(h.bot, "collect", admin, state="off")
    assert h.seen[1].text == "/collect enabled=False"


async def test_slash_command_failure_is_one_ephemeral_sentence(harness, settings, caplog):
    h = harness
    settings.auth.trainers.append(f"discord:{h.members[0].id}")
    interaction = FakeInteraction(h.members[0], h.channel)
    with caplog.at_level(logging.ERROR):  # Discord's file download breaks halfway (its side of the boundary)
        await invoke(h.bot, "tune", interaction, persona="pirate", dataset=BrokenUpload("db exploded at line 42"))
    [(text, ephemeral)] = interaction.sent
    assert ephemeral and "error id" in text and "exploded" not in text and "Traceback" not in text


async def test_slash_tune_routes_an_explicit_command_and_follows_the_job(harness, settings, monkeypatch,
                                                                         tmp_path):
    h = harness
    settings.auth.trainers.append(f"discord:{h.members[0].id}")
    monkeypatch.setenv("FAKE_TRAINER_STEPS", "1")
    data = dataset_file(settings.artifacts_dir / 'datasets')
    interaction = FakeInteraction(h.members[0], h.channel)
    await invoke(h.bot, "tune", interaction, persona="pirate", method="qlora", dataset=Upload(data))
    preview, answer = await confirm_preview(h)
    await wait_for(lambda: h.bot.job_tasks)
    await h.settle_jobs()
    [job] = h.bot.services.jobs.list()
    stored = h.seen[0].text.split("dataset=")[1]
    assert h.seen[0].text == f"/tune persona=pirate method=qlora dataset={stored}" and stored != str(data)
    assert interaction.sent == [(preview, False)] and "Training data for pirate-qlora (the file pirate.jsonl)" in preview
    assert answer.startswith(f"Job {job.id} (pirate-qlora") and job.spec["dataset"] == stored
    assert [t.name for t in h.guild.threads] == [f"pirate · job {job.id}"]


async def test_cancel_button_needs_train_permission(harness, settings, monkeypatch, tmp_path):
    h = harness
    monkeypatch.setenv("FAKE_TRAINER_STEP_S", "1")  # still running when the button is pressed
    tune = _incoming("!tune persona=pirate dataset=" + str(dataset_file(settings.artifacts_dir / 'datasets')))
    j9 = h.router.handle(tune.model_copy(update={"confirmed": True})).job_id  # yes given in advance, as --yes does
    jobs = h.bot.services.jobs
    press = FakeInteraction(h.members[1], h.channel, custom_id=f"selftune:cancel:{j9}", client=h.bot)
    await CancelButton(j9).callback(press)
    assert "'train' permission" in press.sent[0][0] and press.sent[0][1] and not jobs.get(j9).cancel_requested
    settings.auth.trainers.append(f"discord:{h.members[1].id}")
    press = FakeInteraction(h.members[1], h.channel, custom_id=f"selftune:cancel:{j9}", client=h.bot)
    await CancelButton(j9).callback(press)
    assert jobs.get(j9).cancel_requested and press.sent == [(f"Cancelling job {j9}…", True)]


async def test_commands_sync_only_to_configured_guilds(harness, settings, monkeypatch):
    calls = []

    async def fake_sync(*, guild=None):  # Discord's HTTP endpoint, recorded
        calls.append(guild.id if guild else "global")
        return []

    monkeypatch.setattr(harness.bot.tree, "sync", fake_sync)
    assert await harness.bot.sync_commands() == [] and calls == []
    settings.discord.guild_ids = [123]
    assert await harness.bot.sync_commands() == ["guild:123"] and calls == [123]
    settings.discord.global_sync = True
    await harness.bot.sync_commands()
    assert calls[-1] == "global"
    commands = {c.name: c for c in harness.bot.tree.get_commands()}
    assert {"tune", "status", "cancel", "eval", "export", "collect", "forget", "help"} <= commands.keys()
    assert commands["tune"].get_parameter("persona").description


@pytest.mark.slow  # the real Memory loads the MiniLM embedding model (~30 s on 2 shared cores)
async def test_reaction_feedback_reaches_real_memory(harness, settings):
    from memory.store import Memory

    h = harness
    h.bot.services.memory = memory = Memory(settings)
    try:
        await dpytest.message(f"{h.mention()} say arr", channel=h.channel, member=h.members[0])
        [answer] = h.sent()
        await dpytest.add_reaction(h.members[0], answer, "👎")
        rows = memory.conn.execute("SELECT message_id, user, rating FROM feedback").fetchall()
        assert [tuple(r) for r in rows] == [(str(answer.id), f"discord:{h.members[0].id}", -1)]
    finally:
        memory.close()


@needs_espeak
async def test_real_voice_message_runs_the_spoken_command(make_harness, settings, tmp_path):
    """A real Discord-style voice note (Ogg Opus) through local Whisper and the real Router."""
    from agent.router import Router

    clip = to_ogg_opus(speak("roll back the pirate adapter", tmp_path / "v.wav"), tmp_path / "voice-message.ogg")
    h = await make_harness(router=Router(settings))
    await dpytest.message("", channel=h.channel, member=h.members[0], attachments=[str(clip)])
    echo, answer = h.sent()
    assert "roll back the pirate adapter" in echo.content.lower()
    # The spoken command resolved to `rollback`, and a voice note gets no more rights than typed text.
    assert "'rollback' needs the 'admin' permission" in answer.content
