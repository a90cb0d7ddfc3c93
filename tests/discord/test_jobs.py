"""'tune a pirate persona adapter' → a thread, one progress message edited (rate-limited), a final report."""

from __future__ import annotations

import discord.ext.test as dpytest
from discord.ext.test import backend

from agent.discord_bot.progress import JobView, as_event, format_eta, progress_bar
from agent.discord_bot.views import BUTTONS, PromoteButton
from tests.discord.conftest import dataset_file
from tests.discord.test_buttons_and_permissions import confirm_preview, wait_for


def only_job(h) -> str:
    """The id of the one job the router started."""
    [job] = h.bot.services.jobs.list()
    return job.id


async def test_tune_opens_thread_edits_progress_and_posts_report(harness, settings, monkeypatch, tmp_path):
    h = harness
    settings.auth.trainers.append(f"discord:{h.members[0].id}")
    monkeypatch.setenv("FAKE_TRAINER_STEP_S", "0.12")  # ~1.7 s of training, edits every 1 s at most
    await dpytest.message(f"{h.mention()} tune a pirate persona adapter on {dataset_file(settings.artifacts_dir / 'datasets')}",
                          channel=h.channel, member=h.members[0])
    preview, answer = await confirm_preview(h)
    assert "Training data for pirate-lora (the file pirate.jsonl): 8 rows" in preview
    await wait_for(lambda: h.bot.job_tasks)
    await h.settle_jobs()
    sent = h.sent()
    job_id = only_job(h)
    assert answer.startswith(f"Job {job_id} (pirate-lora")  # to the presser, who sees the thread open
    progress, final = sent
    [thread] = h.guild.threads  # opened in the channel the preview was in, named after the job
    assert thread.name == f"pirate · job {job_id}" and thread.parent == h.channel
    assert progress.channel.id == final.channel.id == thread.id
    assert f"job {job_id}" in progress.content and "step 0" in progress.content
    # one message edited, never faster than the configured interval
    times = [t for t, _ in h.edits]
    assert 1 <= len(times) <= 4
    assert all(b - a >= settings.discord.progress_edit_interval_s - 0.05 for a, b in zip(times, times[1:], strict=False))
    assert "step 12/12" in h.edits[-1][1] and "100%" in h.edits[-1][1]
    assert "✅" in final.content and "eval loss 1.1000" in final.content and "Ahoy, matey!" in final.content
    [png] = final.attachments
    assert png.filename.endswith(".png")


async def test_failed_job_ends_with_its_reason(harness, settings, monkeypatch, tmp_path):
    h = harness
    settings.auth.trainers.append(f"discord:{h.members[0].id}")
    monkeypatch.setenv("FAKE_TRAINER_FAIL", "CUDA out of memory")
    await dpytest.message(f"!tune persona=pirate dataset={dataset_file(settings.artifacts_dir / 'datasets')}", channel=h.channel,
                          member=h.members[0])
    await confirm_preview(h)
    await wait_for(lambda: h.bot.job_tasks)
    await h.settle_jobs()
    final = h.sent()[-1]
    assert final.content.startswith("❌") and "CUDA out of memory" in final.content and not final.attachments


async def test_unauthorized_train_request_is_refused_without_a_job(harness):
    h = harness
    await dpytest.message(f"{h.mention()} tune a pirate persona adapter", channel=h.channel, member=h.members[1])
    [reply] = h.sent()
    assert "needs the 'train' permission" in reply.content
    assert not h.bot.job_tasks and list(h.guild.threads) == []


async def test_trainer_role_grants_training(harness, settings, monkeypatch, tmp_path):
    h = harness
    role = backend.make_role("trainers", h.guild)
    await dpytest.add_role(h.members[1], role)
    settings.auth.trainers.append("role:trainers")
    monkeypatch.setenv("FAKE_TRAINER_STEPS", "1")
    await dpytest.message(f"!tune persona=pirate dataset={dataset_file(settings.artifacts_dir / 'datasets')}", channel=h.channel,
                          member=h.members[1])
    _, answer = await confirm_preview(h, member=h.members[1])
    await wait_for(lambda: h.bot.job_tasks)
    await h.settle_jobs()
    assert answer.startswith(f"Job {only_job(h)}")
    assert h.seen[0].roles == ["trainers"]


def test_progress_rendering_and_event_shapes():
    assert progress_bar(5, 10).endswith("50%") and progress_bar(3, None) == "step 3"
    assert format_eta(3725) == "1h 02m" and format_eta(65) == "1m 05s" and format_eta(None) == "?"
    job = JobView(job_id="j", title="t")
    job.apply(as_event({"kind": "progress", "data": {"step": 2, "max_steps": 4, "loss": 1.5}}))
    assert job.step == 2 and job.losses == [(2, 1.5)] and "loss 1.5000" in job.render()
    promote = PromoteButton.__discord_ui_compiled_template__.fullmatch("selftune:promote:pirate:pirate/3")
    assert promote is not None and (promote["persona"], promote["adapter"]) == ("pirate", "pirate/3")
    assert not any(b.__discord_ui_compiled_template__.fullmatch("other:thing") for b in BUTTONS)


async def test_real_router_refuses_training_for_a_read_only_user(make_harness, settings):
    from agent.router import Router

    h = await make_harness(router=Router(settings))
    await dpytest.message(f"{h.mention()} tune a pirate persona adapter", channel=h.channel, member=h.members[1])
    [reply] = h.sent()
    assert "train" in reply.content.lower() and "permission" in reply.content.lower()
    assert not h.bot.job_tasks and list(h.guild.threads) == []
