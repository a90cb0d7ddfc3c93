"""Token streaming: providers against scripted servers on 127.0.0.1 (real openai/ollama clients), the local
tiny model, the Router's contract (plain chat streams, commands and tool turns do not), and `selftune chat`
printing the answer as it arrives."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from agent.router import Router
from config.messages import IncomingMessage
from config.settings import LLMConfig
from skills.providers import FallbackProvider
from skills.providers.local import LocalProvider
from skills.providers.ollama_provider import OllamaProvider
from skills.providers.openai_compat import OpenAIProvider

REPO = Path(__file__).resolve().parents[2]
MESSAGES = [{"role": "user", "content": "tell me a story"}]
STORY = "Once upon a time a small model learned to talk like a pirate."


class Heard:
    """An on_token sink that records each piece and when it came."""

    def __init__(self) -> None:
        self.pieces: list[str] = []
        self.times: list[float] = []

    def __call__(self, piece: str) -> None:
        self.pieces.append(piece)
        self.times.append(time.monotonic())


def test_openai_streams_server_sent_events(scripted_llm):
    scripted_llm.enqueue(text=STORY, piece_delay=0.05)
    heard = Heard()
    result = OpenAIProvider("m", base_url=scripted_llm.url + "/v1", timeout_s=5).chat(MESSAGES, on_token=heard)
    assert result.text == STORY and "".join(heard.pieces) == STORY and len(heard.pieces) == len(STORY.split())
    assert heard.times[-1] - heard.times[0] >= 0.05 * (len(heard.pieces) - 2)  # pieces came as they were sent
    assert scripted_llm.requests[0]["stream"] is True


def test_ollama_streams_json_lines(scripted_llm):
    scripted_llm.enqueue(text=STORY, piece_delay=0.05)
    heard = Heard()
    result = OllamaProvider("m", host=scripted_llm.url, timeout_s=5).chat(MESSAGES, on_token=heard)
    assert result.text == STORY and "".join(heard.pieces) == STORY and len(heard.pieces) > 5
    assert heard.times[-1] - heard.times[0] >= 0.05 * (len(heard.pieces) - 2)
    assert scripted_llm.requests[0]["stream"] is True


def test_tool_calls_are_never_streamed(scripted_llm):
    scripted_llm.enqueue(tool_calls=[("jobs.status", {"job": "pirate"})])
    heard = Heard()
    tools = [{"type": "function", "function": {"name": "jobs.status", "parameters": {}}}]
    result = OpenAIProvider("m", base_url=scripted_llm.url + "/v1", timeout_s=5).chat(MESSAGES, tools=tools,
                                                                                      on_token=heard)
    assert result.tool_calls[0].name == "jobs.status" and heard.pieces == []
    assert "stream" not in scripted_llm.requests[0]


def test_fallback_streams_from_the_provider_that_answers(scripted_llm):
    scripted_llm.enqueue(text=STORY)
    heard = Heard()
    chain = FallbackProvider([OpenAIProvider("m", base_url="http://127.0.0.1:9/v1", timeout_s=2),
                              OpenAIProvider("m", base_url=scripted_llm.url + "/v1", timeout_s=5)])
    assert chain.chat(MESSAGES, on_token=heard).text == STORY and "".join(heard.pieces) == STORY


def test_local_model_streams_what_it_generates(settings, tiny_model_dir):
    heard = Heard()
    result = LocalProvider("tiny", settings.models_dir, max_new_tokens=24).chat(MESSAGES, on_token=heard)
    assert "".join(heard.pieces).strip() == result.text


def router_on(settings, scripted_llm) -> Router:
    settings.llm = LLMConfig(provider="openai", base_url=scripted_llm.url + "/v1", model="m", fallback=[])
    return Router(settings)


def test_router_streams_plain_chat_only(settings, scripted_llm):
    router = router_on(settings, scripted_llm)
    scripted_llm.enqueue(text=STORY)
    heard = Heard()
    reply = router.handle(IncomingMessage(text="tell me a story"), on_token=heard)
    assert reply.intent == "chat" and reply.text == STORY and "".join(heard.pieces) == STORY
    commands = Heard()
    assert router.handle(IncomingMessage(text="help"), on_token=commands).intent == "help"
    assert commands.pieces == [] and len(scripted_llm.requests) == 1  # a command never asks the model


def test_router_does_not_stream_a_tool_turn(settings, scripted_llm):
    router = router_on(settings, scripted_llm)
    scripted_llm.enqueue(tool_calls=[("jobs_status", {})])
    scripted_llm.enqueue(text="No jobs are running.")
    heard = Heard()
    reply = router.handle(IncomingMessage(text="what do my training jobs look like?"), on_token=heard)
    assert reply.text == "No jobs are running." and heard.pieces == []
    assert all("stream" not in r for r in scripted_llm.requests)


def chat_process(settings, scripted_llm, *args: str) -> tuple[list[tuple[float, bytes]], int]:
    """`selftune chat` in its own process; returns what it printed, read by read with the time of each."""
    env = {**os.environ, "SELFTUNE_HOME": str(settings.home), "SELFTUNE_BASE_MODEL": "tiny", "PYTHONPATH": str(REPO),
           "SELFTUNE_LLM__PROVIDER": "openai", "SELFTUNE_LLM__BASE_URL": scripted_llm.url + "/v1"}
    proc = subprocess.Popen([sys.executable, "-m", "agent.cli.main", "chat", *args, "--no-memory"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd=REPO)
    reads: list[tuple[float, bytes]] = []
    deadline = time.monotonic() + 120
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        data = os.read(proc.stdout.fileno(), 4096)
        if not data:
            break
        reads.append((time.monotonic(), data))
    return reads, proc.wait(timeout=30)


def test_cli_chat_prints_the_answer_as_it_arrives(settings, scripted_llm):
    scripted_llm.enqueue(text=STORY, piece_delay=0.2)
    reads, code = chat_process(settings, scripted_llm, "tell me a story")
    assert code == 0
    assert b"".join(data for _, data in reads).decode() == STORY + "\n"  # complete, in order, once
    assert len(reads) >= 4 and reads[-1][0] - reads[0][0] >= 1.0  # in pieces, over the ~2.4 s it was sent
    assert reads[0][1].decode().startswith("Once") and not reads[0][1].decode().startswith(STORY)


def test_cli_chat_json_is_still_one_document(settings, scripted_llm):
    scripted_llm.enqueue(text=STORY, piece_delay=0.01)
    reads, code = chat_process(settings, scripted_llm, "tell me a story", "--json")
    doc = json.loads(b"".join(data for _, data in reads))
    assert code == 0 and doc["reply"] == STORY and doc["intent"] == "chat"
    assert "stream" not in scripted_llm.requests[0]  # nothing to show before the document


def test_console_prints_a_streamed_answer_once(settings, scripted_llm):
    from tests.helpers import run_console

    scripted_llm.enqueue(text=STORY, piece_delay=0.05)
    out = run_console(settings.home, "tell me a story\nexit\n", SELFTUNE_LLM__PROVIDER="openai",
                      SELFTUNE_LLM__BASE_URL=scripted_llm.url + "/v1")
    assert f"selftune {STORY}\n" in out and out.count("Once upon") == 1
    assert scripted_llm.requests[0]["stream"] is True
