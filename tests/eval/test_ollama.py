"""Ollama export against a protocol-faithful fake server: exact API calls and the Modelfile."""

from __future__ import annotations

import hashlib

import ollama
import pytest

from config.errors import SelftuneError
from skills.export.ollama import CHATML_TEMPLATE, PARAMETERS, create_model, modelfile
from tests.eval.fake_ollama import FakeOllama


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_create_uploads_blobs_then_creates_with_progress(tmp_path):
    base, adapter = tmp_path / "base.gguf", tmp_path / "pirate.gguf"
    base.write_bytes(b"GGUF-base")
    adapter.write_bytes(b"GGUF-adapter")
    events = []
    with FakeOllama() as server:
        server.blobs[_digest(b"GGUF-base")] = 9  # the server already has the base: no second upload
        result = create_model(server.host, "pirate:latest", base, adapter, "Be a pirate.", events.append)
        reply = ollama.Client(host=server.host).chat(model="pirate:latest", messages=[{"role": "user", "content": "hi"}])
    assert result == {"host": server.host, "ollama_version": "0.13.0", "model": "pirate:latest", "status": "success"}
    assert [(m, p) for m, p, _ in server.calls] == [
        ("GET", "/api/version"),
        ("HEAD", f"/api/blobs/{_digest(b'GGUF-base')}"),
        ("HEAD", f"/api/blobs/{_digest(b'GGUF-adapter')}"),
        ("POST", f"/api/blobs/{_digest(b'GGUF-adapter')}"),
        ("POST", "/api/create"),
        ("POST", "/api/chat"),
    ]
    create = server.calls[4][2]
    assert create == {"model": "pirate:latest", "stream": True, "files": {"base.gguf": _digest(b"GGUF-base")},
                      "adapters": {"pirate.gguf": _digest(b"GGUF-adapter")}, "template": CHATML_TEMPLATE,
                      "system": "Be a pirate.", "parameters": PARAMETERS}
    assert [e["message"] for e in events][-1] == "ollama: success" and len(events) == 5
    assert reply.message.content == "Arr, matey!"


def test_modelfile_text(tmp_path):
    text = modelfile(tmp_path / "b.gguf", tmp_path / "a.gguf", "Be a pirate.")
    assert text.splitlines() == [
        f"FROM {tmp_path / 'b.gguf'}", f"ADAPTER {tmp_path / 'a.gguf'}", f'TEMPLATE """{CHATML_TEMPLATE}"""'.splitlines()[0],
        *f'TEMPLATE """{CHATML_TEMPLATE}"""'.splitlines()[1:],
        'SYSTEM """Be a pirate."""', 'PARAMETER stop "<|im_end|>"', 'PARAMETER stop "<|im_start|>"',
        "PARAMETER temperature 0.7",
    ]


def test_unreachable_ollama_is_one_sentence(tmp_path):
    with pytest.raises(SelftuneError, match="Cannot reach Ollama at http://127.0.0.1:9"):
        create_model("http://127.0.0.1:9", "x", tmp_path / "b", tmp_path / "a", None)
