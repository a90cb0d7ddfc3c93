"""`selftune chat` and `selftune run` used the way people and scripts use them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from agent.cli.main import app


def chat(*args: str) -> dict:
    result = CliRunner().invoke(app, ["chat", *args, "--json", "--no-memory"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_chat_json_help(settings):
    doc = chat("help")
    assert doc["intent"] == "help" and "tune" in doc["reply"] and set(doc) >= {"reply", "intent", "args"}


def test_chat_tune_asks_a_followup(settings):
    doc = chat("tune a pirate persona adapter", "--channel", "pirate-chat")
    assert doc["intent"] == "tune" and doc["args"]["persona"] == "pirate" and "Which dataset?" in doc["reply"]


def test_chat_with_scripted_server(settings, scripted_llm, monkeypatch):
    monkeypatch.setenv("SELFTUNE_LLM__PROVIDER", "openai")
    monkeypatch.setenv("SELFTUNE_LLM__BASE_URL", scripted_llm.url + "/v1")
    scripted_llm.enqueue(text="Arr, hello!")
    assert chat("hello there") == {"reply": "Arr, hello!", "intent": "chat", "args": {}, "job_id": None,
                                   "transcript": None, "ok": True}


def test_chat_when_model_is_offline(settings, monkeypatch):
    monkeypatch.setenv("SELFTUNE_LLM__PROVIDER", "openai")
    monkeypatch.setenv("SELFTUNE_LLM__BASE_URL", "http://127.0.0.1:9/v1")
    doc = chat("tell me a story")
    assert "offline" in doc["reply"] and doc["args"] == {"offline": True}


def test_plain_output_and_help_text(settings):
    runner = CliRunner()
    assert "help" in runner.invoke(app, ["chat", "help", "--no-memory"]).stdout
    assert "--channel" in runner.invoke(app, ["chat", "--help"]).stdout


def test_run_opens_console_and_answers(settings):
    env = {**os.environ, "SELFTUNE_HOME": str(settings.home), "SELFTUNE_BASE_MODEL": "tiny", "COLUMNS": "120"}
    proc = subprocess.run([sys.executable, "-m", "agent.cli.main", "run", "--console"], input="help\nexit\n",
                          capture_output=True, text=True, env=env, timeout=120, cwd=settings.home.parent)
    assert proc.returncode == 0, proc.stderr
    assert "type a message" in proc.stdout and "tune" in proc.stdout


@pytest.mark.slow
def test_chat_with_real_local_model(settings, smollm2_dir, monkeypatch):
    monkeypatch.setenv("SELFTUNE_LLM__MODEL", "smollm2")
    monkeypatch.setenv("SELFTUNE_LLM__MAX_NEW_TOKENS", "8")
    doc = chat("What is the capital of France? Answer in one word.")
    assert doc["intent"] == "chat" and doc["reply"].strip() and "offline" not in doc["reply"]
    assert chat("how's the pirate job?")["intent"] == "status"  # core intents never need the model


@pytest.mark.slow
def test_chat_logs_to_memory(settings):
    result = CliRunner().invoke(app, ["chat", "help", "--json", "--channel", "mem"])
    assert result.exit_code == 0, result.output
    from memory.store import Memory

    memory = Memory(settings)
    try:
        texts = [hit.text for hit in memory.recall("help", channel="mem", k=4)]
    finally:
        memory.close()
    assert "help" in texts
