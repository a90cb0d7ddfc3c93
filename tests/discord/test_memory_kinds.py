"""Discord replies are logged with their kind, so harvest learns only the persona's chat answers from Discord too."""

from __future__ import annotations

import discord.ext.test as dpytest

from memory.store import Memory


async def test_help_and_chat_replies_are_logged_with_their_kind(make_harness, settings):
    h = await make_harness()
    memory = h.bot.services.memory = Memory(settings, index_on_log=False)
    try:
        await dpytest.message("!help", channel=h.channel, member=h.members[0])
        await dpytest.message(f"{h.mention()} tell me about the sea", channel=h.channel, member=h.members[0])
        assert len(h.sent()) == 2
        kinds = [row[0] for row in memory.conn.execute("SELECT kind FROM messages WHERE role = 'assistant' ORDER BY seq")]
        assert kinds == ["help", "chat"]
    finally:
        memory.close()
