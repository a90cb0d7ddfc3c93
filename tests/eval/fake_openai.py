"""A scripted OpenAI-compatible chat server on 127.0.0.1: replies come from a function of the request."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class ScriptedOpenAI:
    """Serves POST /v1/chat/completions (streamed as server-sent events when asked); `reply(request_body) -> str`
    decides each answer; requests are recorded.
    GET /lora-adapters lists `lora_adapters` ({id, path, scale}) the way llama.cpp's server does."""

    def __init__(self, reply: Callable[[dict[str, Any]], str], lora_adapters: list[dict[str, Any]] | None = None) -> None:
        self.reply, self.requests, self.lora_adapters = reply, [], lora_adapters or []
        self.piece_delay = 0.0  # seconds between the words of a streamed answer (requests with `stream: true`)
        # {token: logprob} of the first token's alternatives, for requests that ask for `logprobs` (as llama.cpp's
        # server answers them); None: no log-probabilities in the answer
        self.top_logprobs: Callable[[dict[str, Any]], dict[str, float]] | None = None
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                found = self.path == "/lora-adapters"
                data = json.dumps(outer.lora_adapters if found else {"error": "not found"}).encode()
                self.send_response(200 if found else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append(body)
                text = outer.reply(body)
                if body.get("stream"):
                    self.stream(body, text)
                    return
                choice: dict[str, Any] = {"index": 0, "finish_reason": "stop",
                                          "message": {"role": "assistant", "content": text}}
                if body.get("logprobs") and outer.top_logprobs is not None:
                    top = [{"token": t, "logprob": lp, "bytes": None} for t, lp in outer.top_logprobs(body).items()]
                    choice["logprobs"] = {"content": [{"token": text, "logprob": 0.0, "bytes": None,
                                                       "top_logprobs": top}]}
                data = json.dumps({
                    "id": "x", "object": "chat.completion", "created": 0, "model": body["model"], "choices": [choice],
                }).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def stream(self, body: dict[str, Any], text: str) -> None:
                """Server-sent events, one per word, `piece_delay` apart; the body ends when the connection closes."""
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                for piece in [*(re.findall(r"\s*\S+\s*", text) or [""]), None]:
                    delta = {"content": piece} if piece is not None else {}
                    chunk = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": body["model"],
                             "choices": [{"index": 0, "delta": delta, "finish_reason": None if delta else "stop"}]}
                    self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
                    self.wfile.flush()
                    time.sleep(outer.piece_delay)
                self.wfile.write(b"data: [DONE]\n\n")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> ScriptedOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
