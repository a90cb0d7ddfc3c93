"""A chat answer streamed into Discord: one reply, edited at most every discord.progress_edit_interval_s while
the model writes, the last edit the full answer; a quick answer is one message with no edits."""

from __future__ import annotations

import math

import discord.ext.test as dpytest

WORDS = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen"


async def test_slow_answer_is_one_message_edited_within_the_interval(harness, chat_model):
    h = harness
    chat_model.piece_delay = 0.25  # 16 words over ~4 s; the harness allows an edit every 1 s
    interval = h.bot.services.settings.discord.progress_edit_interval_s
    await dpytest.message(f"{h.mention()} {WORDS}", channel=h.channel, member=h.members[0])
    full = f"You said: {WORDS}"
    [posted] = h.sent()  # one message, then edits: no second reply
    assert full.startswith(posted.content) and len(posted.content) < len(full)  # posted before the end
    times = [t for t, _ in h.edits]
    assert len(h.edits) >= 2 and h.edits[-1][1] == full  # it grew while the model wrote
    assert all(b - a >= interval - 0.05 for a, b in zip(times, times[1:], strict=False))
    assert len(h.edits) <= math.ceil(16 * 0.25 / interval) + 1
    texts = [posted.content, *(text for _, text in h.edits)]
    assert all(b.startswith(a) for a, b in zip(texts, texts[1:], strict=False))  # it only ever grows
    assert chat_model.requests[-1]["stream"] is True


async def test_quick_answer_is_posted_once_without_edits(harness, chat_model):
    h = harness
    await dpytest.message(f"{h.mention()} {WORDS}", channel=h.channel, member=h.members[0])
    assert [m.content for m in h.sent()] == [f"You said: {WORDS}"] and h.edits == []
    assert chat_model.requests[-1]["stream"] is True
