"""`selftune run` picks Discord when a token is configured, the terminal otherwise."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import agent.discord_bot as discord_bot
from agent.cli.main import app
from config.errors import SelftuneError


def test_run_starts_the_bot_when_a_token_is_set(settings, monkeypatch):
    started = []

    async def fake_run_bot(s, services):  # stands in for the Discord connection (network)
        started.append((s.secret("discord_token"), type(services.router).__name__))

    monkeypatch.setattr(discord_bot, "run_bot", fake_run_bot)
    monkeypatch.setenv("SELFTUNE_DISCORD_TOKEN", "tok-123")
    result = CliRunner().invoke(app, ["run"])
    assert result.exit_code == 0, result.output
    assert started == [("tok-123", "Router")] and "tok-123" not in result.output


def test_run_console_flag_keeps_the_terminal(settings, monkeypatch):
    monkeypatch.setattr(discord_bot, "run_bot", lambda *a: pytest.fail("bot started"))
    monkeypatch.setenv("SELFTUNE_DISCORD_TOKEN", "tok-123")
    result = CliRunner().invoke(app, ["run", "--console"], input="exit\n")
    assert result.exit_code == 0, result.output


async def test_run_bot_without_token_is_one_sentence(settings):
    with pytest.raises(SelftuneError, match="No Discord token is configured"):
        await discord_bot.run_bot(settings)
