"""The OpenAI-compatible front of `selftune serve`: clients choose a model by name, as every OpenAI client does.

llama.cpp's server answers any `model` with the base model and reaches adapters only through its own `lora`
field. This front, on the port users see, lists the base and each served persona under their names
(`base`, `pirate`), turns `model="pirate"` into that persona's adapter plus its card's system prompt, answers an
unknown name with a 404 that names the known models, and passes every other request (and streams) through to
llama.cpp on an internal port.
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from config.errors import SelftuneError

log = logging.getLogger(__name__)
MODEL_PATHS = ("/v1/chat/completions", "/chat/completions", "/v1/completions", "/completions")
CHAT_PATHS = ("/v1/chat/completions", "/chat/completions")
HOP_HEADERS = {"connection", "content-length", "transfer-encoding", "keep-alive"}
UPSTREAM_TIMEOUT_S = 600.0


class ServedModel(BaseModel):
    """One name clients can ask for, and what answers it."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="The name /v1/models lists: 'base' or a persona.")
    adapter: str | None = Field(None, description="The LoRA GGUF's served name applied for it (None: the base).")
    system_prompt: str | None = Field(None, description="Prepended when a chat request brings no system message.")
    aliases: list[str] = Field(default_factory=list, description="Other names accepted for it, not listed.")


class ModelTable:
    """Model names to llama.cpp request fields: which adapter runs at scale 1 and which system prompt applies."""

    def __init__(self, models: list[ServedModel], lora_ids: dict[str, int]) -> None:
        self.models, self.lora_ids = models, lora_ids
        self._by_name = {alias: m for m in models for alias in [*m.aliases, m.name]}  # listed names win
        self.created = int(time.time())

    def listing(self) -> dict[str, Any]:
        """The /v1/models document."""
        return {"object": "list", "data": [self.entry(m) for m in self.models]}

    def entry(self, model: ServedModel) -> dict[str, Any]:
        """One model as OpenAI lists it."""
        return {"id": model.name, "object": "model", "created": self.created, "owned_by": "selftune"}

    def resolve(self, name: object) -> ServedModel | None:
        """The served model asked for by name, or None."""
        return self._by_name.get(name) if isinstance(name, str) else None

    def unknown(self, name: object) -> str:
        """The sentence for a name nothing here serves."""
        known = ", ".join(m.name for m in self.models)
        if name in (None, ""):
            return f"The request names no model; this server serves: {known}."
        return f"The model '{name}' is not served here; this server serves: {known}."

    def rewrite(self, body: dict[str, Any], model: ServedModel, chat: bool) -> dict[str, Any]:
        """The request for llama.cpp: the model's adapter (unless the request sets llama.cpp's own `lora`) and,
        for a chat without a system message, the persona's system prompt."""
        out = dict(body)
        if "lora" not in out and self.lora_ids:  # adapters left out of `lora` would keep their global scale
            out["lora"] = [{"id": i, "scale": 1.0 if name == model.adapter else 0.0} for name, i in self.lora_ids.items()]
        messages = out.get("messages")
        if chat and model.system_prompt and isinstance(messages, list) and not any(
                isinstance(m, dict) and m.get("role") == "system" for m in messages):
            out["messages"] = [{"role": "system", "content": model.system_prompt}, *messages]
        return out


def error_body(message: str, code: str, param: str | None = "model") -> bytes:
    """An error in OpenAI's shape, which the official clients turn into their typed exceptions."""
    return json.dumps({"error": {"message": message, "type": "invalid_request_error", "param": param,
                                 "code": code}}).encode()


class _Handler(BaseHTTPRequestHandler):
    table: ModelTable
    upstream_port: int

    def do_GET(self) -> None:  # noqa: N802 - the http.server hook name
        path = self.path.split("?", 1)[0]
        if path in ("/v1/models", "/models"):
            return self._json(HTTPStatus.OK, json.dumps(self.table.listing()).encode())
        if path.startswith(("/v1/models/", "/models/")):
            name = path.rsplit("/", 1)[1]
            model = self.table.resolve(name)
            if model is None:
                return self._json(HTTPStatus.NOT_FOUND, error_body(self.table.unknown(name), "model_not_found"))
            return self._json(HTTPStatus.OK, json.dumps(self.table.entry(model)).encode())
        return self._proxy(None)

    def do_POST(self) -> None:  # noqa: N802 - the http.server hook name
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = self.path.split("?", 1)[0]
        if path not in MODEL_PATHS:
            return self._proxy(raw)
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return self._json(HTTPStatus.BAD_REQUEST, error_body("The request body is not JSON.", "invalid_json", None))
        model = self.table.resolve(body.get("model")) if isinstance(body, dict) else None
        if model is None:
            name = body.get("model") if isinstance(body, dict) else None
            status = HTTPStatus.BAD_REQUEST if name in (None, "") else HTTPStatus.NOT_FOUND
            return self._json(status, error_body(self.table.unknown(name), "model_not_found"))
        return self._proxy(json.dumps(self.table.rewrite(body, model, path in CHAT_PATHS)).encode())

    def _json(self, status: HTTPStatus, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _proxy(self, body: bytes | None) -> None:
        """Forward to llama.cpp and copy its answer back as it arrives (server-sent events included)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=UPSTREAM_TIMEOUT_S)
        try:
            headers = {"Content-Type": self.headers.get("Content-Type", "application/json")}
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            self.send_response(resp.status)
            for key, value in resp.getheaders():
                if key.lower() not in HOP_HEADERS:
                    self.send_header(key, value)
            self.end_headers()  # HTTP/1.0: the body ends when the connection closes, so streams need no length
            while chunk := resp.read1(65536):
                self.wfile.write(chunk)
                self.wfile.flush()
        except OSError as exc:
            log.warning("serve: llama.cpp did not answer %s %s: %s", self.command, self.path, exc)
        finally:
            conn.close()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the http.server signature
        log.debug("serve: " + format, *args)


class OpenAIFront:
    """The front server on 127.0.0.1:`port`, in a background thread, before llama.cpp on `upstream_port`."""

    def __init__(self, table: ModelTable, upstream_port: int, port: int) -> None:
        handler = type("Handler", (_Handler,), {"table": table, "upstream_port": upstream_port})
        try:
            self._server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        except OSError as exc:
            raise SelftuneError(f"Port {port} on 127.0.0.1 is not free ({exc.strerror}); pick another with "
                                "--port.") from None
        self._server.daemon_threads = True
        self.port = port
        self._thread = threading.Thread(target=self._server.serve_forever, name="openai-front", daemon=True)

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL clients use (…/v1)."""
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> OpenAIFront:
        """Serve in the background."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port."""
        self._server.shutdown()
        self._server.server_close()
