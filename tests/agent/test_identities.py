"""Identities are honest: `selftune chat --user U` acts with U's permissions, and secrets pasted into chat
are never stored (SQLite log or the Chroma index)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from agent.auth import permission_for
from agent.cli.main import app
from config.settings import AuthConfig, Settings

runner = CliRunner()
# Shaped like real credentials (so the scrubber's patterns apply) but built here, never real ones.
DISCORD_TOKEN = "M" + "TA5ODc2NTQzMjEwOTg3NjU0Mw" + ".Gx" + "Yz1a." + "abcdefghijklmnopqrstuvwxyz0123456"
API_KEY = "sk-" + "proj-" + "A1b2C3d4E5f6G7h8I9j0K1l2"


def chat(*args: str) -> tuple[int, dict]:
    result = runner.invoke(app, ["chat", *args, "--json"])
    return result.exit_code, json.loads(result.stdout)


def test_user_flag_takes_that_identitys_permissions(settings: Settings) -> None:
    code, doc = chat("train a pirate adapter on #pirate-chat", "--user", "discord:999", "--no-memory")
    assert code == 1 and doc["intent"] == "tune" and "needs the 'train' permission and you have 'read'" in doc["reply"]
    code, doc = chat("stop collecting in this channel", "--user", "discord:999", "--no-memory")
    assert code == 1 and doc["intent"] == "collect" and "needs the 'admin' permission" in doc["reply"]


def test_configured_identity_and_the_local_user(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SELFTUNE_AUTH__TRAINERS", '["discord:999"]')
    code, doc = chat("tune a pirate persona adapter", "--user", "discord:999", "--no-memory")
    assert code == 0 and "Which dataset?" in doc["reply"]  # past the permission check, asking for the dataset
    code, doc = chat("stop collecting in this channel", "--user", "discord:999", "--no-memory")
    assert code == 1 and "needs the 'admin' permission and you have 'train'" in doc["reply"]
    code, doc = chat("tune a pirate persona adapter", "--no-memory")  # no --user: the local admin
    assert code == 0 and "Which dataset?" in doc["reply"]


def test_one_permission_rule_for_every_transport(settings: Settings) -> None:
    s = settings.model_copy(update={"auth": AuthConfig(admins=["discord:1", "role:ops"], trainers=["discord:2"])})
    assert permission_for(s, "cli", "local") == "admin"  # the terminal's own user
    assert permission_for(s, "cli", "discord:999") == "read"
    assert permission_for(s, "cli", "discord:2") == "train" and permission_for(s, "discord", 2) == "train"
    assert permission_for(s, "discord", 1) == "admin" and permission_for(s, "discord", 5, ["ops"]) == "admin"
    assert permission_for(s, "cli", "role:ops") == "read"  # a role comes from the transport, not a claimed name
    assert permission_for(s, "discord", "local") == "read"  # 'local' is only special on the terminal


def test_pasted_secrets_never_reach_sqlite_or_chroma(settings: Settings, scripted_llm,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SELFTUNE_LLM__PROVIDER", "openai")
    monkeypatch.setenv("SELFTUNE_LLM__BASE_URL", scripted_llm.url + "/v1")
    scripted_llm.enqueue(text=f"Saved your token {DISCORD_TOKEN} for later.")  # a model that repeats it
    code, doc = chat(f"here is my bot token {DISCORD_TOKEN} and my key {API_KEY}, keep them", "--channel", "ops")
    assert code == 0 and doc["reply"].startswith("Saved")

    stored = [p for p in [settings.db_path, *settings.db_path.parent.glob("selftune.db-*")] if p.exists()]
    chroma = [p for p in settings.chroma_dir.rglob("*") if p.is_file()]
    assert stored and chroma
    for path in stored + chroma:
        data = path.read_bytes()
        assert DISCORD_TOKEN.encode() not in data and API_KEY.encode() not in data, path
    from memory.store import Memory

    memory = Memory(settings)
    try:
        texts = [r[0] for r in memory.conn.execute("SELECT text FROM messages WHERE channel = 'ops' ORDER BY seq")]
        hits = [h.text for h in memory.recall("bot token", channel="ops", k=4)]
    finally:
        memory.close()
    assert texts == ["here is my bot token [DISCORD_TOKEN] and my key [API_KEY], keep them",
                     "Saved your token [DISCORD_TOKEN] for later."]
    assert texts[0] in hits
