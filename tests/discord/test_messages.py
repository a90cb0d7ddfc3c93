"""Messages in, replies out: mentions, replays after a reconnect, DMs, and errors as one sentence."""

from __future__ import annotations

import logging

import discord.ext.test as dpytest

from agent.router import Router
from tests.discord.conftest import failing_registry


async def test_mention_gets_a_reply_from_the_real_router(make_harness, settings):
    h = await make_harness(router=Router(settings))
    await dpytest.message(f"{h.mention()} help", channel=h.channel, member=h.members[0])
    [reply] = h.sent()
    assert "tune" in reply.content.lower() and "<@" not in reply.content


async def test_router_gets_channel_user_and_roles(harness):
    h = harness
    await dpytest.message(f"{h.mention()} what's up", channel=h.channel, member=h.members[0])
    [incoming] = h.seen
    assert incoming.transport == "discord"
    assert incoming.channel == str(h.channel.id) and incoming.user == str(h.members[0].id)
    assert incoming.text == "what's up" and incoming.message_id


async def test_messages_not_for_the_bot_are_ignored(harness):
    await dpytest.message("just chatting with friends", channel=harness.channel)
    assert harness.sent() == [] and harness.seen == []


async def test_bang_command_is_answered_without_mention(harness):
    await dpytest.message("!help", channel=harness.channel)
    [reply] = harness.sent()  # the router's own help, asked for with no mention
    assert reply.content.startswith("Here is what I can do") and [m.text for m in harness.seen] == ["!help"]


async def test_replayed_message_after_reconnect_is_answered_once(harness):
    h = harness
    message = await dpytest.message(f"{h.mention()} once please", channel=h.channel)
    h.bot.dispatch("message", message)  # what a gateway RESUME replay looks like to the bot
    await dpytest.run_all_events()
    assert len(h.sent()) == 1 and len(h.seen) == 1


async def test_handled_ids_survive_a_restart(make_harness):
    h = await make_harness()
    message = await dpytest.message(f"{h.mention()} hi", channel=h.channel)
    h.sent()
    assert h.bot.store.claim(message.id, h.channel.id) is False


async def test_internal_error_is_one_sentence_with_an_id_and_logged(make_harness, caplog):
    h = await make_harness(registry=failing_registry(RuntimeError("secret stack detail")))
    with caplog.at_level(logging.ERROR, logger="agent.discord_bot.bot"):
        await dpytest.message(f"{h.mention()} !status", channel=h.channel)
    [reply] = h.sent()
    assert "error id" in reply.content and "Traceback" not in reply.content
    assert "secret stack detail" not in reply.content
    error_id = reply.content.split("error id ")[1].split(")")[0]
    assert any(error_id in r.getMessage() and r.exc_info for r in caplog.records)


async def test_selftune_error_is_shown_as_its_sentence(make_harness):
    from config.errors import NotFound

    harness = await make_harness(registry=failing_registry(
        NotFound("There is no job 'x'; `selftune jobs list` shows them.")))
    await dpytest.message("!status job=x", channel=harness.channel)
    assert [m.content for m in harness.sent()] == ["There is no job 'x'; `selftune jobs list` shows them."]


async def test_dm_from_non_admin_is_refused_by_default_policy(harness):
    h = harness
    dm = await h.members[0].create_dm()
    await dpytest.message("hi in private", channel=dm, member=h.members[0])
    [reply] = h.sent()
    assert "only answer direct messages from admins" in reply.content and h.seen == []


async def test_dm_from_admin_is_answered(make_harness, settings):
    h = await make_harness()
    settings.auth.admins.append(f"discord:{h.members[0].id}")
    dm = await h.members[0].create_dm()
    await dpytest.message("hi in private", channel=dm, member=h.members[0])
    assert [m.content for m in h.sent()] == ["You said: hi in private"]


async def test_long_answers_are_split(harness):
    from agent.discord_bot.text import split_text

    pieces = split_text("line\n" * 900)
    assert len(pieces) == 3 and all(len(p) <= 2000 for p in pieces)
    assert "".join(pieces).count("line") == 900
