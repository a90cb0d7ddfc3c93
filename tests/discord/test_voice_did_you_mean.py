"""A misheard Discord voice note gets "Did you mean …?" with Confirm/Cancel buttons; the asker's Confirm runs it."""

from __future__ import annotations

import discord.ext.test as dpytest
from discord.webhook.async_ import async_context

from tests.discord.conftest import SENT_COMPONENTS
from tests.discord.test_buttons_and_permissions import InteractionCallbacks, button_press, wait_for
from tests.voice.audio import needs_espeak, speak


@needs_espeak
async def test_misheard_voice_note_asks_and_confirm_runs_it(make_harness, settings, tmp_path):  # noqa: ANN001, ANN201
    from agent.router import Router

    # Misheard by construction: the clip says what tiny.en once heard for "cancel the pirate job" (a recogniser
    # that hears it right must not turn this test into a failure).
    clip = speak("can't solve the pirate job", tmp_path / "voice-message.wav", 150, "en-us")
    h = await make_harness(router=Router(settings))
    await dpytest.message("", channel=h.channel, member=h.members[0], attachments=[str(clip)])
    sent = await wait_for(lambda: h.sent())
    answer = sent[-1]
    assert "Did you mean: \u201ccancel the pirate job\u201d?" in answer.content, [m.content for m in sent]
    [[confirm, _cancel]] = [row["components"] for row in SENT_COMPONENTS[answer.id]]

    discord_side = InteractionCallbacks()
    async_context.set(discord_side)
    h.bot._connection.parse_interaction_create(button_press(h.bot, h.members[0], h.channel, answer.id, confirm["custom_id"]))
    [done] = await wait_for(lambda: discord_side.answers)
    # The yes handled `cancel` like a typed command: with the asker's own permission (read, so refused here).
    assert "'cancel' needs the 'train' permission" in done["data"]["content"], done
