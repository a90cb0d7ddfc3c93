"""The slash commands people expect: every command acknowledged before slow work, /schedule, /adapters,
/dataset, autocomplete for personas, adapters and jobs, and a Promote button that runs the gate."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import discord
import pytest
from discord.ext.test import factories as facts
from discord.webhook.async_ import async_context

from agent.discord_bot.views import PromoteAnywayButton, PromoteButton, final_view
from config.messages import IncomingMessage
from config.workspace import open_workspace
from skills.train import adapters
from tests.agent.test_confirm import fake_adapter
from tests.discord.conftest import FakeInteraction, FakeResponse, dataset_file, invoke, write
from tests.discord.test_attachments_feedback import GOOD, Upload
from tests.discord.test_buttons_and_permissions import InteractionCallbacks, confirm_preview, wait_for


class Recorded:
    """What happened, in order, on both sides of the Discord boundary."""

    def __init__(self) -> None:
        self.events: list[str] = []


class RecordingResponse(FakeResponse):
    """Discord's interaction response, noting when the command was acknowledged."""

    def __init__(self, interaction: FakeInteraction, recorded: Recorded) -> None:
        super().__init__(interaction)
        self.recorded = recorded

    async def defer(self, *, thinking: bool = False, ephemeral: bool = False, **_: Any) -> None:
        self.recorded.events.append(f"defer thinking={thinking}")
        await super().defer()


class SlowUpload(Upload):
    """An attachment whose CDN download is noted when it happens."""

    def __init__(self, path: Path, recorded: Recorded) -> None:
        super().__init__(path)
        self.recorded = recorded

    async def read(self) -> bytes:
        self.recorded.events.append("download")
        return await super().read()


def admin(h, settings) -> discord.Member:  # noqa: ANN001
    member = h.members[0]
    settings.auth.admins.append(f"discord:{member.id}")
    return member


def autocomplete(bot: discord.Client, member: discord.Member, channel: discord.TextChannel, command: str,
                 options: list[dict[str, Any]]) -> dict[str, Any]:
    """The INTERACTION_CREATE payload Discord sends while `member` types into a command's option."""
    return {
        "id": str(discord.utils.time_snowflake(datetime.now(UTC))), "application_id": str(bot.user.id), "type": 4,
        "token": "interaction-token", "version": 1, "guild_id": str(channel.guild.id),
        "channel": facts.dict_from_channel(channel), "channel_id": str(channel.id),
        "member": {**facts.dict_from_member(member), "permissions": "0"}, "attachment_size_limit": 8_000_000,
        "data": {"id": "1", "name": command, "type": 1, "options": options}, "app_permissions": "0",
    }


async def suggestions(h, command: str, options: list[dict[str, Any]]) -> list[dict[str, str]]:  # noqa: ANN001
    """What Discord is told to suggest, through the bot's real CommandTree (what its invoker task runs)."""
    discord_side = InteractionCallbacks()
    async_context.set(discord_side)
    payload = autocomplete(h.bot, h.members[1], h.channel, command, options)
    await h.bot.tree._call(discord.Interaction(data=payload, state=h.bot._connection))
    [answer] = discord_side.answers
    assert answer["type"] == 8  # APPLICATION_COMMAND_AUTOCOMPLETE_RESULT
    return answer["data"]["choices"]


def typing(name: str, value: str) -> dict[str, Any]:
    return {"type": 3, "name": name, "value": value, "focused": True}


async def test_tune_with_an_attachment_is_acknowledged_before_the_download(harness, settings, monkeypatch):
    h = harness
    settings.auth.trainers.append(f"discord:{h.members[0].id}")
    monkeypatch.setenv("FAKE_TRAINER_STEPS", "1")
    recorded = Recorded()
    interaction = FakeInteraction(h.members[0], h.channel)
    interaction.response = RecordingResponse(interaction, recorded)
    await invoke(h.bot, "tune", interaction, persona="pirate",
                 dataset=SlowUpload(dataset_file(settings.artifacts_dir / "datasets"), recorded))
    assert recorded.events == ["defer thinking=True", "download"]  # Discord heard back before the slow part
    _, answer = await confirm_preview(h)
    await wait_for(lambda: h.bot.job_tasks)
    await h.settle_jobs()
    [job] = h.bot.services.jobs.list()
    assert answer.startswith(f"Job {job.id}")


async def test_a_refusal_is_not_acknowledged_publicly_first(harness):
    h = harness
    recorded = Recorded()
    interaction = FakeInteraction(h.members[1], h.channel)  # read permission only
    interaction.response = RecordingResponse(interaction, recorded)
    await invoke(h.bot, "tune", interaction, persona="pirate")
    assert recorded.events == [] and interaction.sent[0][1] is True  # one ephemeral sentence, no "thinking…"


async def test_autocomplete_suggests_persona_names(harness, settings):
    h = harness
    ws = open_workspace(settings)
    ws.write("personas/pilot.toml", ws.read("personas/pirate.toml").replace('name = "pirate"', 'name = "pilot"'))
    ws.commit("a second persona")
    assert [c["value"] for c in await suggestions(h, "tune", [typing("persona", "pi")])] == ["pilot", "pirate"]
    assert [c["value"] for c in await suggestions(h, "tune", [typing("persona", "rat")])] == ["pirate"]
    assert await suggestions(h, "tune", [typing("persona", "zzz")]) == []
    # Inside a group too: /schedule add persona:…
    add = [{"type": 1, "name": "add", "options": [typing("persona", "pir")]}]
    assert [c["value"] for c in await suggestions(h, "schedule", add)] == ["pirate"]


async def test_autocomplete_suggests_adapters_newest_first_at_most_25(harness, settings):
    h = harness
    open_workspace(settings)
    for i in range(30):
        fake_adapter(settings, f"bot{i:02d}-lora", "v1")
    fake_adapter(settings, "pirate-lora", "v1")
    fake_adapter(settings, "pirate-lora", "v2")
    adapters.promote(settings, "pirate", "pirate-lora/v2")
    choices = await suggestions(h, "eval", [typing("adapter", "")])
    assert len(choices) == 25
    pirate = await suggestions(h, "export", [typing("adapter", "pirate")])
    assert [c["value"] for c in pirate] == ["pirate-lora/v2", "pirate-lora/v1"]
    assert pirate[0]["name"] == "pirate-lora/v2 · serves pirate"


async def test_autocomplete_suggests_job_ids(harness, settings, monkeypatch):
    h = harness
    monkeypatch.setenv("FAKE_TRAINER_STEPS", "1")
    data = dataset_file(settings.artifacts_dir / "datasets")
    reply = h.router.handle(IncomingMessage(transport="cli", channel="local", user="local",
                                            text=f"!tune persona=pirate dataset={data}", confirmed=True))
    [choice] = await suggestions(h, "status", [typing("job", reply.job_id[:3])])
    assert choice["value"] == reply.job_id and "pirate" in choice["name"]
    await h.bot.loop.run_in_executor(None, h.bot.services.jobs.wait, reply.job_id, 30)


async def test_schedule_add_then_list_shows_it(harness, settings):
    h = harness
    member = admin(h, settings)
    add = FakeInteraction(member, h.channel)
    await invoke(h.bot, "schedule add", add, persona="pirate", at="03:15")
    assert h.seen[-1].text == "/schedule action=add persona=pirate at=03:15"
    assert add.sent[0][0].startswith("Scheduled the nightly retrain of pirate at 03:15")
    listed = FakeInteraction(h.members[1], h.channel)  # listing needs only 'read'
    await invoke(h.bot, "schedule list", listed)
    assert "nightly retrain of pirate at 03:15" in listed.sent[0][0]
    pause = FakeInteraction(member, h.channel)
    await invoke(h.bot, "schedule pause", pause, schedule="pirate")
    assert pause.sent[0][0].startswith("Paused the nightly retrain of pirate")
    again = FakeInteraction(h.members[1], h.channel)
    await invoke(h.bot, "schedule list", again)
    assert "pirate at 03:15" in again.sent[0][0] and "paused" in again.sent[0][0]


async def test_schedule_add_needs_the_routers_admin_permission(harness):
    h = harness
    refused = FakeInteraction(h.members[1], h.channel)
    await invoke(h.bot, "schedule add", refused, persona="pirate")
    [(text, ephemeral)] = refused.sent
    assert ephemeral and "'schedule' needs the 'admin' permission" in text and h.seen == []


async def test_dataset_validate_and_stats_of_an_attachment(harness, settings, tmp_path):
    h = harness
    good = write(tmp_path / "chat.jsonl", (json.dumps(GOOD) + "\n") * 3)
    checked = FakeInteraction(h.members[1], h.channel)
    await invoke(h.bot, "dataset validate", checked, file=Upload(good))
    assert checked.sent[0][0].startswith("📦 Stored `chat.jsonl`: 3 valid rows (messages)")
    stats = FakeInteraction(h.members[1], h.channel)
    await invoke(h.bot, "dataset stats", stats, file=Upload(good))
    text = stats.sent[0][0]
    assert text.startswith("`chat.jsonl` (messages): 3 rows") and "duplicates: 2 exact" in text
    bad = write(tmp_path / "bad.jsonl", json.dumps(GOOD) + "\n{oops\n")
    rejected = FakeInteraction(h.members[1], h.channel)
    await invoke(h.bot, "dataset validate", rejected, file=Upload(bad))
    assert rejected.sent == [(rejected.sent[0][0], False)] and "line 2" in rejected.sent[0][0]


async def test_adapters_list_shows_what_serves(harness, settings):
    h = harness
    open_workspace(settings)
    fake_adapter(settings, "pirate-lora", "v1")
    adapters.promote(settings, "pirate", "pirate-lora/v1")
    listed = FakeInteraction(h.members[1], h.channel)
    await invoke(h.bot, "adapters list", listed)
    assert listed.sent[0][0] == "Adapters, newest first:\n- `pirate-lora/v1` (lora) · serves pirate"


def test_finished_job_offers_gated_promote_and_promote_anyway(settings):
    fake_adapter(settings, "pirate-lora", "v3")
    view = final_view(str(settings.artifacts_dir / "adapters" / "pirate-lora" / "v3"), "pirate")
    labels = [(item.item.label, item.item.custom_id) for item in view.children]
    assert labels[1:] == [("Promote for pirate", "selftune:promote:pirate:pirate-lora/v3"),
                          ("Promote anyway (skip the gate)", "selftune:force:pirate:pirate-lora/v3")]
    assert not PromoteButton.__discord_ui_compiled_template__.fullmatch("selftune:force:pirate:pirate-lora/v3")
    forced = PromoteAnywayButton.__discord_ui_compiled_template__.fullmatch("selftune:force:pirate:pirate-lora/v3")
    assert forced is not None and (forced["persona"], forced["adapter"]) == ("pirate", "pirate-lora/v3")


async def test_promote_that_cannot_be_evaluated_does_not_promote(harness, settings):
    h = harness
    open_workspace(settings)
    candidate = fake_adapter(settings, "pirate-lora", "v1")  # no eval data recorded with it
    (settings.artifacts_dir / "adapters" / candidate / "adapter_config.json").write_text("{}")
    settings.auth.trainers.append(f"discord:{h.members[0].id}")
    press = FakeInteraction(h.members[0], h.channel, client=h.bot)
    await PromoteButton("pirate", candidate).callback(press)
    [(text, ephemeral)] = press.sent
    assert ephemeral and "No eval data is recorded" in text
    assert adapters.served_map(settings) == {}


async def test_promote_anyway_is_for_admins_and_says_it_skipped_the_gate(harness, settings):
    h = harness
    open_workspace(settings)
    candidate = fake_adapter(settings, "pirate-lora", "v1")
    settings.auth.trainers.append(f"discord:{h.members[1].id}")
    trainer = FakeInteraction(h.members[1], h.channel, client=h.bot)
    await PromoteAnywayButton("pirate", candidate).callback(trainer)
    assert "'rollback' needs the 'admin' permission" in trainer.sent[0][0] and adapters.served_map(settings) == {}
    press = FakeInteraction(admin(h, settings), h.channel, client=h.bot)
    await PromoteAnywayButton("pirate", candidate).callback(press)
    [(text, ephemeral)] = press.sent
    assert ephemeral and text == ("`pirate-lora/v1` now serves the pirate persona; the evaluation gate was "
                                  "skipped on purpose (it replaced the base model).")
    assert adapters.served_map(settings) == {"pirate": "pirate-lora/v1"}


@pytest.mark.timeout(300)  # a real evaluation on the tiny model (torch, PEFT, generation, forgetting check), ~13 s
async def test_promote_with_a_failing_gate_keeps_the_served_adapter_and_says_why(harness, settings,
                                                                                  tiny_model_dir):
    from tests.eval.conftest import pirate_rows, train_adapter, write_jsonl

    h = harness
    settings.eval.min_rows = 2  # the gate weighs these 6 rows (the default asks for 16 before any verdict)
    open_workspace(settings)
    folder = settings.artifacts_dir / "adapters" / "pirate-lora" / "v1"
    folder.parent.mkdir(parents=True)
    train_adapter(tiny_model_dir, pirate_rows(4, 1), folder, steps=0)  # untrained: LoRA B starts at zero
    (settings.artifacts_dir / "datasets").mkdir(parents=True, exist_ok=True)
    eval_data = write_jsonl(settings.artifacts_dir / "datasets" / "pirate-eval.jsonl", pirate_rows(6, 2))
    manifest = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps({**manifest, "name": "pirate-lora", "version": "v1",
                                                      "eval_dataset": str(eval_data)}))
    settings.auth.trainers.append(f"discord:{h.members[0].id}")
    recorded = Recorded()
    press = FakeInteraction(h.members[0], h.channel, custom_id="selftune:promote:pirate:pirate-lora/v1", client=h.bot)
    press.response = RecordingResponse(press, recorded)
    await PromoteButton("pirate", "pirate-lora/v1").callback(press)
    [(text, ephemeral)] = press.sent
    assert recorded.events == ["defer thinking=True"]  # acknowledged before the evaluation ran
    assert ephemeral and text.startswith("`pirate-lora/v1` was not promoted for the pirate persona, which keeps "
                                         "the base model: the evaluation gate said candidate's held-out loss")
    assert "within the measured noise" in text  # an untrained adapter answers exactly as the base model
    assert adapters.served_map(settings) == {}


async def test_adapters_promote_skipping_the_gate_is_for_admins(harness, settings):
    h = harness
    open_workspace(settings)
    candidate = fake_adapter(settings, "pirate-lora", "v1")
    settings.auth.trainers.append(f"discord:{h.members[1].id}")
    trainer = FakeInteraction(h.members[1], h.channel)
    await invoke(h.bot, "adapters promote", trainer, persona="pirate", adapter=candidate, skip_gate=True)
    assert "needs the 'admin' permission" in trainer.sent[0][0] and adapters.served_map(settings) == {}
    boss = FakeInteraction(admin(h, settings), h.channel)
    await invoke(h.bot, "adapters promote", boss, persona="pirate", adapter=candidate, skip_gate=True)
    assert "the evaluation gate was skipped on purpose" in boss.sent[0][0]
    assert adapters.served_map(settings) == {"pirate": candidate}
