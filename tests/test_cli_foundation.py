"""The CLI as users run it: --help, doctor --json, the terminal assistant's prompt."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from typer.testing import CliRunner

from agent.cli.main import app
from config.settings import Settings

runner = CliRunner()


def test_help_explains_itself() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "fine-tunes" in result.output and "doctor" in result.output and "run" in result.output


def test_doctor_json_fields(settings: Settings) -> None:
    result = runner.invoke(app, ["doctor", "--json"])
    doc = json.loads(result.stdout)
    names = {c["name"] for c in doc["checks"]}
    assert {"python", "torch", "base model", "voice", "embeddings", "disk", "ray", "llm", "ollama", "discord", "skills"} <= names
    assert all({"name", "ok", "detail", "fix"} <= set(c) for c in doc["checks"])
    assert doc["home"] == str(settings.home)
    assert result.exit_code == (0 if doc["ok"] else 1)


def test_doctor_redacts_token(settings: Settings, monkeypatch) -> None:
    monkeypatch.setenv("SELFTUNE_DISCORD_TOKEN", "super-secret-token-value")
    result = runner.invoke(app, ["doctor", "--json"])
    assert "super-secret-token-value" not in result.output
    assert "token configured" in result.output


def test_bad_config_is_one_sentence(settings: Settings, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[executor]\nkind = 3\n")
    result = runner.invoke(app, ["--config", str(bad), "doctor"])
    assert result.exit_code == 1
    assert "Traceback" not in result.output and "executor.kind" in result.output and str(bad) in result.output


def test_run_opens_terminal_prompt(settings: Settings) -> None:
    """`selftune run` without a Discord token is a terminal chat; it answers and exits on 'exit'."""
    env = {**os.environ, "SELFTUNE_HOME": str(settings.home), "SELFTUNE_LLM__MODEL": "tiny"}
    proc = subprocess.run(
        [sys.executable, "-m", "agent.cli.main", "run"], input="help\nexit\n",
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "type a message" in proc.stdout and "tune" in proc.stdout.split("you:")[1]


def test_a_100k_character_chat_message_is_refused_fast_before_any_model_work(settings: Settings) -> None:
    """The probe: 100k characters ran the model for a minute and answered nothing with ok: true."""
    started = time.monotonic()
    result = runner.invoke(app, ["chat", "a" * 100_000, "--json"])
    elapsed = time.monotonic() - started
    doc = json.loads(result.stdout)
    assert result.exit_code == 1 and doc["ok"] is False and doc["intent"] == "error"
    assert "100,000 characters" in doc["reply"] and "4,000" in doc["reply"]
    assert elapsed < 10, f"refusing took {elapsed:.1f} s"
    assert not (settings.home / "chroma" / "chroma.sqlite3").exists()  # memory was never opened: nothing logged


def test_message_cap_is_a_setting_and_discord_keeps_its_own_limit(settings: Settings, monkeypatch) -> None:
    from agent.router import Router, refuse_too_long
    from config.messages import IncomingMessage

    monkeypatch.setenv("SELFTUNE_AGENT__MAX_MESSAGE_CHARS", "10000")
    roomy = Settings(home=settings.home, base_model="tiny")
    assert roomy.agent.max_message_chars == 10000
    router = Router(roomy)
    refused = router.handle(IncomingMessage(transport="discord", channel="c", user="u", text="x" * 4001))
    assert refused.ok is False and "4,000" in refused.text
    refused = router.handle(IncomingMessage(transport="cli", channel="c", user="u", text="x" * 10_001))
    assert refused.ok is False and "10,000" in refused.text
    at_limit = IncomingMessage(transport="cli", channel="c", user="u", text="x" * 10_000)
    assert refuse_too_long(at_limit, roomy) is None  # the limit itself is accepted
