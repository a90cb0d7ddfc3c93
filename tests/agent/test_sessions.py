"""Conversations survive the process: a channel's session (pending question with its partial arguments,
pending confirmation, last job) lives in selftune.db, so separate `selftune chat` processes and a restarted
bot continue it; a session idle for longer than agent.session_ttl_s is forgotten."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.router import Router
from config.messages import IncomingMessage
from config.settings import AgentConfig, Settings
from config.state import connect
from config.workspace import open_workspace
from skills.jobs import JobManager
from skills.providers.openai_compat import OpenAIProvider
from skills.train import adapters
from tests.agent.test_confirm import fake_adapter

REPO = Path(__file__).resolve().parents[2]


def chat_process(settings: Settings, *args: str, **env: str) -> dict:
    """One `selftune chat` in its own process, as a script would run it."""
    environ = {**os.environ, "SELFTUNE_HOME": str(settings.home), "SELFTUNE_BASE_MODEL": "tiny",
               "PYTHONPATH": str(REPO), **env}
    proc = subprocess.run([sys.executable, "-m", "agent.cli.main", "chat", *args, "--json", "--no-memory"],
                          capture_output=True, text=True, env=environ, timeout=180, cwd=REPO)
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture
def jobs(settings: Settings):
    manager = JobManager(settings)
    yield manager
    for job in manager.list(limit=20):
        if not job.done:
            manager.cancel(job.id)
            manager.wait(job.id, timeout=30)
    manager.close()


def test_later_chat_processes_answer_the_question_and_the_preview_then_the_job_starts(settings, jobs, tmp_path) -> None:
    open_workspace(settings)
    data = tmp_path / "pirate.jsonl"
    row = {"messages": [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "Arr, ahoy!"}]}
    data.write_text("\n".join(json.dumps(row) for _ in range(8)) + "\n")

    first = chat_process(settings, "tune a pirate persona adapter", "--channel", "pirate-chat")
    assert first["intent"] == "tune" and "Which dataset?" in first["reply"] and first["job_id"] is None
    assert jobs.list() == []

    second = chat_process(settings, str(data), "--channel", "pirate-chat")
    assert second["confirm"] and second["job_id"] is None and "8 rows" in second["reply"], second
    assert second["args"]["persona"] == "pirate" and "steps" in second["reply"]  # the preview states the estimate
    assert jobs.list() == []

    third = chat_process(settings, "yes", "--channel", "pirate-chat")
    assert third["ok"] and third["job_id"], third
    job = jobs.get(third["job_id"])
    assert job.spec["persona"] == "pirate" and Path(job.spec["dataset"]) == data.resolve()
    deadline = time.monotonic() + 60
    while jobs.get(job.id).state == "queued" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert jobs.get(job.id).state in ("running", "succeeded")


def test_a_confirmation_asked_in_one_process_is_answered_in_the_next(settings: Settings) -> None:
    open_workspace(settings)
    for version in ("v1", "v2"):
        fake_adapter(settings, "pirate-lora", version)

    asked = chat_process(settings, "delete all my adapters")
    assert asked["confirm"] and asked["reply"].startswith("This will delete 2 adapters for good")
    assert len(adapters.list_adapters(settings)) == 2

    done = chat_process(settings, "yes")
    assert done["ok"] and done["intent"] == "delete" and adapters.list_adapters(settings) == []


def test_a_restarted_router_keeps_the_pending_confirmation(settings: Settings) -> None:
    open_workspace(settings)
    fake_adapter(settings, "pirate-lora", "v1")
    settings = settings.model_copy(update={"auth": settings.auth.model_copy(update={"admins": ["discord:7"]})})
    message = IncomingMessage(transport="discord", channel="99", user="7", text="!delete all")
    assert Router(settings).handle(message).confirm

    restarted = Router(settings)  # the bot came back: a new process, the same selftune.db
    reply = restarted.handle(message.model_copy(update={"text": "yes"}))

    assert reply.ok and "Deleted pirate-lora/v1" in reply.text and adapters.list_adapters(settings) == []


def test_a_session_older_than_the_ttl_is_forgotten(settings: Settings, scripted_llm) -> None:
    open_workspace(settings)
    llm = OpenAIProvider("scripted", base_url=scripted_llm.url + "/v1", timeout_s=10)
    short = settings.model_copy(update={"agent": AgentConfig(session_ttl_s=60)})
    ask = IncomingMessage(transport="cli", channel="c", text="tune a pirate persona adapter")
    assert "Which dataset?" in Router(short, provider=llm).handle(ask).text

    conn = connect(settings)
    conn.execute("UPDATE sessions SET updated_at = updated_at - 120")  # two minutes idle, TTL one minute
    conn.close()
    scripted_llm.enqueue(text="Sure, synthetic data sounds fun.")
    reply = Router(short, provider=llm).handle(ask.model_copy(update={"text": "synthetic"}))

    assert reply.intent == "chat" and reply.text == "Sure, synthetic data sounds fun."  # not taken as the answer

    # The same inside one long-running process: an idle session starts over.
    router = Router(short, provider=llm)
    assert "Which dataset?" in router.handle(ask).text
    router.sessions["c"].touched -= 120
    scripted_llm.enqueue(text="Synthetic it is, in general.")
    assert router.handle(ask.model_copy(update={"text": "synthetic"})).intent == "chat"
