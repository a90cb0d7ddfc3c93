"""A protocol-faithful fake Ollama server on 127.0.0.1 (the binary can't be installed here).

Implements what `ollama create` needs, as the real server does: GET /api/version, HEAD/POST
/api/blobs/:digest (200 if present / 404; POST checks the sha256 and answers 201), POST /api/create
(streamed NDJSON status lines ending in {"status":"success"}; 400 for unknown blobs or an unknown `from`
model), POST /api/show (details, model_info and parameters of a pulled model; a created model shows its `from`
model's; 404 when absent), POST /api/copy (200; 404 for an unknown source), GET /api/tags,
POST /api/chat (non-streamed reply). Every call is recorded as (method, path, json body or None).
"""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeOllama:
    """Start with `with FakeOllama() as server:`; inspect `.calls`, `.blobs`, `.models`."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Any]] = []
        self.blobs: dict[str, int] = {}
        self.models: dict[str, dict[str, Any]] = {}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def pull(self, name: str, family: str, parameter_size: str, *, parameter_count: int | None = None,
             context_length: int = 40960, stops: tuple[str, ...] = ("<|im_start|>", "<|im_end|>")) -> None:
        """Have the model `name` as `ollama pull` leaves it: /api/show answers what the real server says."""
        info: dict[str, Any] = {"general.architecture": family, f"{family}.context_length": context_length}
        if parameter_count is not None:
            info["general.parameter_count"] = parameter_count
        self.models[name] = {"show": {
            "modelfile": f"FROM {name}\n", "template": "{{ .Prompt }}",
            "parameters": "\n".join(f'stop                           "{s}"' for s in stops),
            "details": {"parent_model": "", "format": "gguf", "family": family, "families": [family],
                        "parameter_size": parameter_size, "quantization_level": "Q4_K_M"},
            "model_info": info, "capabilities": ["completion"]}}

    @property
    def host(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding") == "chunked":
                    data = b""
                    while (size := int(self.rfile.readline().strip(), 16)) > 0:
                        data += self.rfile.read(size)
                        self.rfile.readline()
                    self.rfile.readline()
                    return data
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _send(self, code: int, doc: Any = None, lines: list[dict] | None = None) -> None:
                body = b"".join(json.dumps(x).encode() + b"\n" for x in lines) if lines else (
                    json.dumps(doc).encode() if doc is not None else b"")
                self.send_response(code)
                self.send_header("Content-Type", "application/x-ndjson" if lines else "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802
                fake.calls.append(("GET", self.path, None))
                if self.path == "/api/version":
                    return self._send(200, {"version": "0.13.0"})
                if self.path == "/api/tags":
                    return self._send(200, {"models": [{"name": n, "model": n, "size": 1,
                                                        "digest": "sha256:" + "0" * 64} for n in fake.models]})
                self._send(404, {"error": "not found"})

            def do_HEAD(self) -> None:  # noqa: N802
                fake.calls.append(("HEAD", self.path, None))
                digest = self.path.rsplit("/", 1)[-1]
                self._send(200 if digest in fake.blobs else 404)

            def do_POST(self) -> None:  # noqa: N802
                raw = self._body()
                if self.path.startswith("/api/blobs/"):
                    fake.calls.append(("POST", self.path, None))
                    digest = self.path.rsplit("/", 1)[-1]
                    if "sha256:" + hashlib.sha256(raw).hexdigest() != digest:
                        return self._send(400, {"error": "digest mismatch"})
                    fake.blobs[digest] = len(raw)
                    return self._send(201)
                body = json.loads(raw or b"{}")
                fake.calls.append(("POST", self.path, body))
                if self.path == "/api/create":
                    return self._create(body)
                if self.path == "/api/show":
                    if body.get("model") not in fake.models:
                        return self._send(404, {"error": f"model '{body.get('model')}' not found"})
                    return self._send(200, fake.shown(body["model"]))
                if self.path == "/api/copy":
                    if body.get("source") not in fake.models:
                        return self._send(404, {"error": f"model '{body.get('source')}' not found"})
                    fake.models[body["destination"]] = fake.models[body["source"]]
                    return self._send(200)
                if self.path == "/api/chat":
                    if body.get("model") not in fake.models:
                        return self._send(404, {"error": f"model '{body.get('model')}' not found"})
                    return self._send(200, {"model": body["model"], "done": True,
                                            "message": {"role": "assistant", "content": "Arr, matey!"}})
                self._send(404, {"error": "not found"})

            def _create(self, body: dict[str, Any]) -> None:
                digests = list((body.get("files") or {}).values()) + list((body.get("adapters") or {}).values())
                missing = [d for d in digests if d not in fake.blobs]
                if missing:
                    return self._send(400, {"error": f"blob {missing[0]} not found"})
                if body.get("from") and body["from"] not in fake.models:
                    return self._send(400, {"error": f"model '{body['from']}' not found"})
                fake.models[body["model"]] = body
                steps = ["parsing GGUF", "using existing layer", "creating new layer", "writing manifest", "success"]
                self._send(200, lines=[{"status": s} for s in steps])

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    def shown(self, name: str) -> dict[str, Any]:
        """What /api/show answers for a model: its own (pulled) or its `from` model's (created on one)."""
        model = self.models[name]
        return model.get("show") or (self.shown(model["from"]) if model.get("from") in self.models else {
            "details": {"format": "gguf", "family": "", "families": [], "parameter_size": ""}, "model_info": {}})

    def __enter__(self) -> FakeOllama:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
