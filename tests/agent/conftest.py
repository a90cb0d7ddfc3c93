"""Agent fixtures: a scripted OpenAI-compatible (and Ollama /api/chat) server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


class ScriptedLLM:
    """Replies from a queue: enqueue(text=..., tool_calls=[(name, args_or_raw_json)], delay=..., status=...)."""

    def __init__(self) -> None:
        self.queue: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.default_text = "(scripted default reply)"
        self.server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def enqueue(self, text: str = "", tool_calls: list[tuple[str, Any]] | None = None,
                delay: float = 0.0, status: int = 200) -> None:
        self.queue.append({"text": text, "tool_calls": tool_calls or [], "delay": delay, "status": status})

    def next(self) -> dict[str, Any]:
        return self.queue.pop(0) if self.queue else {"text": self.default_text, "tool_calls": [], "delay": 0, "status": 200}


def _openai_body(step: dict[str, Any]) -> dict[str, Any]:
    calls = [
        {"id": f"call_{i}", "type": "function",
         "function": {"name": name, "arguments": args if isinstance(args, str) else json.dumps(args)}}
        for i, (name, args) in enumerate(step["tool_calls"])
    ]
    message = {"role": "assistant", "content": step["text"] or None, "tool_calls": calls or None}
    return {"id": "cmpl-1", "object": "chat.completion", "created": 0, "model": "scripted",
            "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}


def _ollama_body(step: dict[str, Any]) -> dict[str, Any]:
    calls = [{"function": {"name": name, "arguments": args}} for name, args in step["tool_calls"]]
    message: dict[str, Any] = {"role": "assistant", "content": step["text"]}
    if calls:
        message["tool_calls"] = calls
    return {"model": "scripted", "created_at": "2026-01-01T00:00:00Z", "message": message, "done": True}


def _handler(llm: ScriptedLLM) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep test output clean
            pass

        def do_POST(self) -> None:  # noqa: N802 - http.server API
            length = int(self.headers.get("Content-Length") or 0)
            request = json.loads(self.rfile.read(length) or b"{}")
            llm.requests.append(request)
            step = llm.next()
            time.sleep(step["delay"])
            body = _ollama_body(step) if self.path.startswith("/api/") else _openai_body(step)
            if step["status"] != 200:
                body = {"error": {"message": "scripted failure"}}
            data = json.dumps(body).encode()
            try:
                self.send_response(step["status"])
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:  # the client gave up (timeout test)
                pass

    return Handler


@pytest.fixture
def scripted_llm() -> Iterator[ScriptedLLM]:
    """A scripted chat server on 127.0.0.1 (random port), stopped after the test."""
    llm = ScriptedLLM()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(llm))
    server.daemon_threads = True
    llm.server = server
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield llm
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)
