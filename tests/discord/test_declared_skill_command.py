"""A third-party skill's slash command, built from its SKILL.md (examples/selftune-hello-skill's notes.take):
checked with the skill's permission, routed through the router's one action path, confirmed before it runs."""

from __future__ import annotations

import pytest

from config.messages import IncomingMessage
from config.settings import Settings
from tests.discord.conftest import FakeInteraction, invoke


@pytest.mark.asyncio
async def test_a_plugin_skill_gets_a_slash_command_that_confirms(make_harness, settings: Settings) -> None:
    h = await make_harness(trainer=False)
    member = h.members[0]
    settings.auth.trainers.append(f"discord:{member.id}")
    assert h.bot.tree.get_command("note") is not None and h.bot.tree.get_command("wordcount") is not None
    assert h.bot.tree.get_command("improve") is not None  # a built-in skill without a hand-made command gets one too
    interaction = FakeInteraction(member, h.channel)
    await invoke(h.bot, "note", interaction, text="call mum")
    [(text, _)] = interaction.sent
    assert "This will add the note \u201ccall mum\u201d" in text
    notes = settings.home / "hello-notes.txt"
    assert not notes.exists() and h.router.awaits_answer("discord", str(h.channel.id), str(member.id))
    yes = IncomingMessage(transport="discord", channel=str(h.channel.id), user=str(member.id), text="yes")
    assert "now holds 1 note" in h.router.handle(yes).text
    assert notes.read_text(encoding="utf-8") == "call mum\n"
