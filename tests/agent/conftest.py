"""Agent fixtures: a scripted OpenAI-compatible (and Ollama /api/chat) server on 127.0.0.1."""

from __future__ import annotations

import json
import re
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
                delay: float = 0.0, status: int = 200, piece_delay: float = 0.0) -> None:
        """`piece_delay`: seconds between the words of a streamed answer (requests with `stream: true`)."""
        self.queue.append({"text": text, "tool_calls": tool_calls or [], "delay": delay, "status": status,
                           "piece_delay": piece_delay})

    def next(self) -> dict[str, Any]:
        return self.queue.pop(0) if self.queue else {"text": self.default_text, "tool_calls": [], "delay": 0,
                                                     "status": 200, "piece_delay": 0.0}


def pieces(text: str) -> list[str]:
    """A streamed answer's pieces: each word with the blanks after it (how servers send tokens)."""
    return re.findall(r"\s*\S+\s*", text) or [""]


def stream_lines(step: dict[str, Any], ollama: bool) -> list[bytes]:
    """The body of a streamed answer, one element per piece: Ollama's JSON lines or OpenAI's server-sent events."""
    if ollama:
        parts = [{"model": "scripted", "created_at": "2026-01-01T00:00:00Z",
                  "message": {"role": "assistant", "content": piece}, "done": False} for piece in pieces(step["text"])]
        parts.append({"model": "scripted", "created_at": "2026-01-01T00:00:00Z",
                      "message": {"role": "assistant", "content": ""}, "done": True, "done_reason": "stop"})
        return [json.dumps(part).encode() + b"\n" for part in parts]
    chunks = [{"id": "cmpl-1", "object": "chat.completion.chunk", "created": 0, "model": "scripted",
               "choices": [{"index": 0, "delta": {"role": "assistant", "content": piece}, "finish_reason": None}]}
              for piece in pieces(step["text"])]
    chunks.append({"id": "cmpl-1", "object": "chat.completion.chunk", "created": 0, "model": "scripted",
                   "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    return [b"data: " + json.dumps(chunk).encode() + b"\n\n" for chunk in chunks] + [b"data: [DONE]\n\n"]


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
            if request.get("stream") and step["status"] == 200:
                self.stream(step)
                return
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

        def stream(self, step: dict[str, Any]) -> None:
            """Send the answer piece by piece, `piece_delay` apart; the body ends when the connection closes."""
            ollama = self.path.startswith("/api/")
            self.send_response(200)
            self.send_header("Content-Type", "application/x-ndjson" if ollama else "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            for line in stream_lines(step, ollama):
                self.wfile.write(line)
                self.wfile.flush()
                time.sleep(step["piece_delay"])

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
