"""Fast chat: a command never loads the embedding model, recall indexes lazily, tools only when asked for."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from typer.testing import CliRunner

from agent.cli.main import app
from agent.memory_hooks import MemoryHooks
from config.messages import IncomingMessage, Reply
from config.settings import Settings
from skills.registry import load_registry

REPO = Path(__file__).resolve().parents[2]
# Runs `selftune chat ...` in a fresh interpreter, then reports what the process imported and loaded.
PROBE = """
import atexit, json, sys
def report():
    embedders = sys.modules.get("memory.embedders")
    heavy = [m for m in ("torch", "onnxruntime", "sentence_transformers", "transformers", "chromadb") if m in sys.modules]
    print("PROBE " + json.dumps({"heavy": heavy, "loads": dict(embedders.LOADS) if embedders else None}), file=sys.stderr)
atexit.register(report)
from agent.cli.main import main
sys.argv = ["selftune", *sys.argv[1:]]
main()
"""


def run_chat(settings: Settings, *args: str) -> tuple[dict, dict]:
    """`selftune chat ARGS --json` in a subprocess: its JSON document and what it imported/loaded."""
    env = {**os.environ, "SELFTUNE_HOME": str(settings.home), "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", PROBE, "chat", *args, "--json"], capture_output=True, text=True,
                          env=env, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    probe = next(line for line in done.stderr.splitlines() if line.startswith("PROBE "))
    return json.loads(done.stdout), json.loads(probe.removeprefix("PROBE "))


def test_command_intent_with_memory_loads_no_embedding_model(settings: Settings) -> None:
    doc, probe = run_chat(settings, "status")
    assert doc["intent"] == "status" and doc["ok"]
    assert probe == {"heavy": [], "loads": {}}  # no torch/onnxruntime/Chroma imported, no model loaded
    hooks = MemoryHooks(settings)
    try:  # memory was on: the exchange is in the log, waiting to be indexed by the next recall
        rows = hooks.memory.conn.execute("SELECT text, indexed FROM messages ORDER BY seq").fetchall()
        assert [(r["text"], r["indexed"]) for r in rows] == [("status", 0), (doc["reply"], 0)]
    finally:
        hooks.close()


def test_recall_finds_a_message_logged_without_indexing(settings: Settings) -> None:
    hooks = MemoryHooks(settings)
    try:
        said = IncomingMessage(transport="discord", channel="home", user="ann", text="the spare key is under the blue flowerpot")
        hooks.log(said, Reply(text="Noted.", intent="chat", kind="chat"))  # a chat answer (commands are not recalled)
        assert hooks.memory.index._collection is None  # logging did not even open Chroma
        assert hooks.recall("where is the spare key hidden?", "home")[0] == "ann: the spare key is under the blue flowerpot"
        assert hooks.memory.index.count() == 2  # the next recall indexed both messages of the exchange
        assert hooks.recall("spare key", "elsewhere") == []
    finally:
        hooks.close()


def test_background_indexer_indexes_after_an_exchange(settings: Settings) -> None:
    hooks = MemoryHooks(settings, background=True)
    try:
        said = IncomingMessage(transport="cli", channel="cli", user="local", text="my bike lock code is four one two")
        hooks.log(said, Reply(text="I'll remember.", intent="chat"))
        deadline = time.monotonic() + 60
        pending = 2
        while pending and time.monotonic() < deadline:
            time.sleep(0.2)
            pending = hooks.memory.conn.execute("SELECT COUNT(*) FROM messages WHERE indexed = 0").fetchone()[0]
        assert pending == 0 and hooks.memory.index.count() == 2  # indexed with no recall asking for it
    finally:
        hooks.close()


def chat_via_cli(text: str, channel: str) -> dict:
    result = CliRunner().invoke(app, ["chat", text, "--channel", channel, "--json"])  # memory on, as people use it
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_plain_chat_sends_no_tools_and_a_request_sends_the_relevant_ones(settings, scripted_llm, monkeypatch) -> None:
    monkeypatch.setenv("SELFTUNE_LLM__PROVIDER", "openai")
    monkeypatch.setenv("SELFTUNE_LLM__BASE_URL", scripted_llm.url + "/v1")
    scripted_llm.enqueue(text="Fine, thanks!")
    assert chat_via_cli("hello, how are you today?", "lounge")["reply"] == "Fine, thanks!"
    assert "tools" not in scripted_llm.requests[0]  # no schema in the prompt at all

    scripted_llm.enqueue(text="Shall I?")  # a fresh channel: nothing recalled, so the turn is trusted
    chat_via_cli("I no longer need job-3, please cancel it", "ops")
    offered = [t["function"]["name"] for t in scripted_llm.requests[1]["tools"]]
    every = {s.name.replace(".", "__") for s in load_registry(workspace=settings.workspace_dir).all()}
    assert offered[0] == "jobs__cancel" and len(offered) <= 4 < len(every)
    assert set(offered) <= {"jobs__cancel", "jobs__status", "jobs__logs", "train__submit"}

    scripted_llm.enqueue(text="Which one?")  # the same request where the lounge's messages are recalled
    chat_via_cli("I no longer need job-3, please cancel it", "lounge")
    offered = [t["function"]["name"] for t in scripted_llm.requests[2]["tools"]]
    assert "jobs__cancel" not in offered and "jobs__status" in offered  # trust rules: effect-free tools only
