"""Scheduled retrains report in the persona's Discord channel, from the scheduler's worker thread."""

from __future__ import annotations

import asyncio

from config.workspace import open_workspace


async def test_retrain_outcome_posted_in_persona_channel(harness, settings) -> None:
    h = harness
    ws = open_workspace(settings)
    ws.write("personas/pirate.toml", ws.read("personas/pirate.toml").replace("channels = []", f'channels = ["{h.channel.id}"]'))
    ws.commit("pirate lives in the test channel")
    outcome = {"persona": "pirate", "status": "skipped", "reason": "only 4 new conversations, minimum is 20"}
    # The real scheduler (started with the Jobs cog) calls its notify from a worker thread; the post lands on
    # the bot's loop.
    schedules = h.bot.get_cog("Jobs").schedules
    assert schedules is not None and schedules.scheduler.running
    await asyncio.get_running_loop().run_in_executor(None, schedules.notify, outcome)
    for _ in range(50):
        sent = h.sent()
        if sent:
            break
        await asyncio.sleep(0.05)
    assert [m.content for m in sent] == [
        "Scheduled retrain of **pirate**: skipped — only 4 new conversations, minimum is 20"
    ]
