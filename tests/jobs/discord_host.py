"""`python -m tests.jobs.discord_host PERSONA ADAPTER`: the Discord bot of a bot host, on dpytest's fake Discord,
answering a `/eval ADAPTER` and a press of "Promote for PERSONA" as a trainer; prints one JSON line with both
answers and which weight libraries this process imported (run by tests/jobs/test_two_machines.py in a process
that cannot import them, with `executor.kind = "ray"`)."""

from __future__ import annotations

import asyncio
import json
import sys

import discord.ext.test as dpytest
import pytest

from agent.discord_bot import BotServices
from agent.discord_bot.views import PromoteButton
from agent.router import Router
from config.settings import load_settings
from skills.jobs import JobManager
from tests.discord.conftest import FakeInteraction, echo, invoke, patch_discord_backend, start_bot
from tests.eval.fake_openai import ScriptedOpenAI

WEIGHT_LIBRARIES = ("torch", "transformers", "peft", "trl")


async def answers(persona: str, adapter: str, chat_url: str) -> dict[str, str]:
    """Start the bot on the real services, run /eval and press Promote; the texts Discord would show."""
    settings = load_settings()
    settings.llm = settings.llm.model_copy(update={"provider": "openai", "base_url": chat_url, "model": "scripted",
                                                   "fallback": []})
    services = BotServices(settings=settings, router=Router(settings), jobs=JobManager(settings))
    bot = await start_bot(settings, services)
    try:
        member, channel = dpytest.get_config().members[0], dpytest.get_config().channels[0]
        settings.auth.trainers.append(f"discord:{member.id}")  # trainers may evaluate and promote through the gate
        asked = FakeInteraction(member, channel)
        await invoke(bot, "eval", asked, adapter=adapter)
        pressed = FakeInteraction(member, channel, custom_id=f"selftune:promote:{persona}:{adapter}", client=bot)
        await PromoteButton(persona, adapter).callback(pressed)
        return {"eval": "\n".join(text for text, _ in asked.sent), "promote": "\n".join(t for t, _ in pressed.sent)}
    finally:
        for name in list(bot.cogs):  # what bot.close() does first: schedules and job threads stop
            await bot.remove_cog(name)
        bot.store.close()
        services.jobs.close()


def main() -> None:
    persona, adapter = sys.argv[1:3]
    with pytest.MonkeyPatch.context() as monkeypatch, ScriptedOpenAI(echo) as chat_model:
        patch_discord_backend(monkeypatch)
        texts = asyncio.run(answers(persona, adapter, chat_model.url))
    loaded = sorted(name for name in WEIGHT_LIBRARIES if name in sys.modules)
    print(json.dumps({**texts, "loaded": loaded}))


if __name__ == "__main__":
    main()
