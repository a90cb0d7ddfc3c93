"""'Tune a persona adapter' in Discord with each data source, through the real Router, skills and job manager:
a preview (rows, tokens, held-out split, estimate, three rows) with Confirm/Cancel buttons, a typed yes, then
the job's thread and its final report. Fakes only at process boundaries: Discord (dpytest), the LLM (a
scripted OpenAI-compatible server) and the training worker (fake_trainer.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import discord.ext.test as dpytest
import pytest

from config.messages import IncomingMessage
from memory.store import Memory
from skills.personas import load_persona
from tests.discord.conftest import SENT_COMPONENTS, FakeInteraction, dataset_file, invoke
from tests.discord.test_attachments_feedback import Upload
from tests.discord.test_buttons_and_permissions import confirm_preview, wait_for
from tests.eval.fake_openai import ScriptedOpenAI

CARD = {"system_prompt": "You are Noir, a hard-boiled 1940s detective. Short, smoky sentences.",
        "markers": ["dame", "the city", "rain"]}


def scripted(request: dict[str, Any]) -> str:
    """Persona cards as JSON; every other question answered in the asked-for voice."""
    last = request["messages"][-1]["content"]
    if "persona card" in last:
        return json.dumps(CARD)
    system = request["messages"][0]["content"] if request["messages"][0]["role"] == "system" else ""
    return f"The rain never stops in the city, see. {last[:40]}" if "Noir" in system else f"Arr matey, {last[:40]}"


@pytest.fixture
def chat_model() -> Iterator[ScriptedOpenAI]:
    """The LLM at its process boundary (replaces the echoing server of tests/discord/conftest.py)."""
    with ScriptedOpenAI(scripted) as server:
        yield server


def log_answers(settings, channel: str, count: int, persona: str = "pirate") -> None:  # noqa: ANN001
    """`count` consented exchanges in `channel` answered by `persona`, as the bot logs them."""
    memory = Memory(settings, index_on_log=False)
    try:
        memory.set_consent(channel, True, changed_by="discord:admin")
        for i in range(count):
            asked = IncomingMessage(transport="discord", channel=channel, user="7", text=f"Where is treasure {i}?",
                                    message_id=f"{1000 + i}")
            memory.log_incoming(asked)
            memory.log_reply(f"Arr matey, treasure {i} lies under palm {i}.", to=asked, persona=persona,
                             message_id=f"{2000 + i}")
    finally:
        memory.close()


async def ask_preview_and_confirm(h, text: str) -> tuple[str, str]:  # noqa: ANN001
    """Send `text`, check the preview carries buttons, type yes; returns (preview, the job's final message).
    Only synthesis posts a progress message before the preview."""
    await dpytest.message(f"{h.mention()} {text}", channel=h.channel, member=h.members[0])
    got: list = []

    def preview_arrived() -> bool:
        got.extend(h.sent())
        return any(m.id in SENT_COMPONENTS for m in got)

    await wait_for(preview_arrived)
    *notes, preview = got
    assert [n.content.startswith("Generating synthetic rows for the preview: ") for n in notes] == \
        ([True] if "synthetic" in text else [])
    assert not h.bot.job_tasks, "nothing may start before the yes"
    [[confirm, cancel]] = [row["components"] for row in SENT_COMPONENTS[preview.id]]
    assert (confirm["label"], cancel["label"]) == ("Confirm", "Cancel")
    await dpytest.message("yes", channel=h.channel, member=h.members[0])
    await wait_for(lambda: h.bot.job_tasks)
    await h.settle_jobs()
    sent = h.sent()
    assert sent[0].content.startswith("Job ")
    [thread] = h.guild.threads
    assert sent[-1].channel.id == thread.id
    return preview.content, sent[-1].content


def only_job(h):  # noqa: ANN001, ANN201
    [job] = h.bot.services.jobs.list()
    return job


async def test_tune_from_this_consented_channel(harness, settings, monkeypatch):
    h = harness
    settings.auth.trainers.append(f"discord:{h.members[0].id}")
    monkeypatch.setenv("FAKE_TRAINER_STEPS", "2")
    log_answers(settings, str(h.channel.id), 12)
    preview, final = await ask_preview_and_confirm(h, "tune a pirate persona adapter from this channel")
    assert "Training data for pirate-lora (12 consented answers harvested): 12 rows" in preview
    assert "held out for evaluation" in preview and "on the local executor" in preview and preview.count("\n> ") == 3
    job = only_job(h)
    assert job.spec["persona"] == "pirate" and job.state == "succeeded" and final.startswith("✅")


async def test_tune_from_synthetic_rows(harness, settings, monkeypatch, chat_model):
    h = harness
    settings.auth.trainers.append(f"discord:{h.members[0].id}")
    monkeypatch.setenv("FAKE_TRAINER_STEPS", "2")
    preview, final = await ask_preview_and_confirm(h, "tune a pirate persona adapter on 10 synthetic rows")
    assert "(10 synthetic rows): 10 rows" in preview and "> " in preview and "Arr matey" in preview
    assert sum("persona card" not in r["messages"][-1]["content"] for r in chat_model.requests) == 10
    assert h.edits[0][1] == "Generating synthetic rows for the preview: 10/10"  # the note's last step
    assert only_job(h).spec["persona"] == "pirate" and final.startswith("✅")


async def test_tune_from_a_channel_plus_synthetic_rows(harness, settings, monkeypatch):
    h = harness
    settings.auth.trainers.append(f"discord:{h.members[0].id}")
    monkeypatch.setenv("FAKE_TRAINER_STEPS", "2")
    log_answers(settings, str(h.channel.id), 5)
    preview, final = await ask_preview_and_confirm(h, f"tune a pirate persona adapter from <#{h.channel.id}> "
                                                      "plus 6 synthetic rows")
    assert "(5 consented answers harvested, 6 synthetic rows): 11 rows" in preview
    job = only_job(h)
    assert job.spec["persona"] == "pirate" and final.startswith("✅")


async def test_create_a_persona_by_chat_then_tune_it(harness, settings, monkeypatch):
    h = harness
    settings.auth.admins.append(f"discord:{h.members[0].id}")
    monkeypatch.setenv("FAKE_TRAINER_STEPS", "2")
    await dpytest.message(f"{h.mention()} create a persona called noir who talks like a 1940s detective",
                          channel=h.channel, member=h.members[0])
    [card] = await wait_for(lambda: h.sent())
    assert "New persona card **noir**" in card.content and "dame, the city, rain" in card.content
    assert SENT_COMPONENTS[card.id]
    await dpytest.message("yes", channel=h.channel, member=h.members[0])
    [created] = await wait_for(lambda: h.sent())
    assert created.content.startswith("Created the noir persona")
    assert load_persona(settings.workspace_dir, "noir").system_prompt == CARD["system_prompt"]
    await dpytest.message(f"{h.mention()} use noir in this channel", channel=h.channel, member=h.members[0])
    [bound] = await wait_for(lambda: h.sent())
    assert "noir now answers in this channel" in bound.content
    assert load_persona(settings.workspace_dir, "noir").channels == [str(h.channel.id)]

    preview, final = await ask_preview_and_confirm(h, "tune a noir persona adapter on 9 synthetic rows")
    assert "Training data for noir-lora (9 synthetic rows): 9 rows" in preview and "rain never stops" in preview
    assert only_job(h).spec["persona"] == "noir" and final.startswith("✅")


async def test_slash_tune_with_a_source_previews_then_trains(harness, settings, monkeypatch):
    h = harness
    settings.auth.trainers.append(f"discord:{h.members[0].id}")
    monkeypatch.setenv("FAKE_TRAINER_STEPS", "2")
    log_answers(settings, str(h.channel.id), 9)
    interaction = FakeInteraction(h.members[0], h.channel)
    await invoke(h.bot, "tune", interaction, persona="pirate", source="here + synthetic:3")
    [(preview, ephemeral)] = interaction.sent
    assert "(9 consented answers harvested, 3 synthetic rows): 12 rows" in preview and not ephemeral
    assert not h.bot.job_tasks
    h.sent()
    await dpytest.message("yes", channel=h.channel, member=h.members[0])
    await wait_for(lambda: h.bot.job_tasks)
    await h.settle_jobs()
    assert only_job(h).spec["persona"] == "pirate" and h.sent()[-1].content.startswith("✅")


# --- a file: a slash command's attachment, a path in chat, an upload with the message -------------------


async def test_slash_tune_with_an_attached_dataset_waits_for_confirm(harness, settings, monkeypatch):
    h = harness
    settings.auth.trainers.append(f"discord:{h.members[0].id}")
    monkeypatch.setenv("FAKE_TRAINER_STEPS", "2")
    interaction = FakeInteraction(h.members[0], h.channel)
    upload = Upload(dataset_file(settings.home / "mine", rows=20))
    await invoke(h.bot, "tune", interaction, persona="pirate", dataset=upload)
    preview, answer = await confirm_preview(h)
    assert "Training data for pirate-lora (the file pirate.jsonl): 20 rows, about " in preview
    assert "2 rows held out for evaluation (eval_split 0.1), 18 to train on." in preview
    assert "Estimate on the local executor: about " in preview and " s/step, " in preview
    assert preview.count("\n> Hi → Ahoy!") == 3
    [job] = h.bot.services.jobs.list()
    assert answer.startswith(f"Job {job.id} (pirate-lora") and job.spec["persona"] == "pirate"
    await wait_for(lambda: h.bot.job_tasks)
    await h.settle_jobs()
    assert h.bot.services.jobs.get(job.id).state == "succeeded" and h.sent()[-1].content.startswith("✅")


async def test_slash_tune_with_an_attached_dataset_cancelled_starts_nothing(harness, settings):
    h = harness
    settings.auth.trainers.append(f"discord:{h.members[0].id}")
    interaction = FakeInteraction(h.members[0], h.channel)
    await invoke(h.bot, "tune", interaction, persona="pirate", dataset=Upload(dataset_file(settings.home / "mine")))
    preview, answer = await confirm_preview(h, "Cancel")
    assert "Training data for pirate-lora (the file pirate.jsonl): 8 rows" in preview
    assert answer == "OK, I did nothing." and not h.bot.services.jobs.list() and not h.bot.job_tasks
    await dpytest.message("yes", channel=h.channel, member=h.members[0])  # the question is closed
    assert not h.bot.services.jobs.list() and list(h.guild.threads) == []


async def test_tune_on_a_path_in_chat_previews_with_a_measured_estimate_the_second_time(harness, settings, monkeypatch):
    h = harness
    settings.auth.trainers.append(f"discord:{h.members[0].id}")
    monkeypatch.setenv("FAKE_TRAINER_STEPS", "3")
    data = dataset_file(settings.artifacts_dir / "datasets")
    await dpytest.message(f"{h.mention()} tune pirate on {data}", channel=h.channel, member=h.members[0])
    preview, answer = await confirm_preview(h)
    assert "Training data for pirate-lora (the file pirate.jsonl): 8 rows" in preview
    assert "a guess from agent.train_step_s" in preview  # nothing measured on this device yet
    [job] = h.bot.services.jobs.list()
    assert answer.startswith(f"Job {job.id}") and job.spec["dataset"] == str(data)
    await wait_for(lambda: h.bot.job_tasks)
    await h.settle_jobs()
    assert h.bot.services.jobs.get(job.id).state == "succeeded"

    await dpytest.message(f"{h.mention()} tune pirate on {data}", channel=h.channel, member=h.members[0])
    again, answer = await confirm_preview(h, "Cancel")
    assert "measured here on 1 earlier job like it" in again and answer == "OK, I did nothing."
    assert len(h.bot.services.jobs.list()) == 1


async def test_tune_with_an_uploaded_file_previews_then_trains(harness, settings, monkeypatch):
    h = harness
    settings.auth.trainers.append(f"discord:{h.members[0].id}")
    monkeypatch.setenv("FAKE_TRAINER_STEPS", "2")
    await dpytest.message(f"{h.mention()} tune pirate", channel=h.channel, member=h.members[0],
                          attachments=[str(dataset_file(settings.home / "mine"))])
    preview, answer = await confirm_preview(h)
    assert "Training data for pirate-lora (the file pirate.jsonl): 8 rows" in preview
    [job] = h.bot.services.jobs.list()
    assert answer.startswith(f"Job {job.id}")
    assert Path(job.spec["dataset"]).is_relative_to(settings.artifacts_dir / "datasets")  # the stored upload
    await wait_for(lambda: h.bot.job_tasks)
    await h.settle_jobs()
    assert h.sent()[-1].content.startswith("✅")


async def test_tune_on_a_path_outside_selftunes_folders_is_refused_without_a_preview(harness, settings, tmp_path):
    h = harness
    settings.auth.trainers.append(f"discord:{h.members[0].id}")
    outside = dataset_file(tmp_path / "elsewhere")  # a real dataset, but not in a folder Discord users may name
    await dpytest.message(f"{h.mention()} tune pirate on {outside}", channel=h.channel, member=h.members[0])
    [reply] = await wait_for(lambda: h.sent())
    assert "is outside selftune's folders" in reply.content and "\n" not in reply.content
    assert reply.id not in SENT_COMPONENTS and not h.bot.services.jobs.list()
