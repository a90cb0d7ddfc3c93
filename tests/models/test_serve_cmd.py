"""`selftune serve` as a user runs it: a real llama.cpp server (xllamacpp) on 127.0.0.1 with SmolLM2's GGUF and
the promoted pirate adapter, which the router then reaches by name through llm.lora_api = "llamacpp"."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest

from agent import persona_switch
from agent.router import Router
from config.messages import IncomingMessage
from config.settings import Settings
from skills.export.serve import free_port
from skills.providers import get_provider
from tests.agent.fake_skills import fake_registry
from tests.agent.test_persona_serving import cli, register, smollm2_adapter  # noqa: F401 - a fixture
from tests.conftest import REPO

pytestmark = pytest.mark.slow


def first_line(proc: subprocess.Popen, timeout: float) -> str:
    """The first stdout line of the process, or '' after `timeout` seconds."""
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return line[0] if line else ""


def ask(router: Router, text: str) -> dict:
    reply = router.handle(IncomingMessage(text=text, user="local", transport="console", channel="deck"))
    return {"text": reply.text, **reply.args}


def test_serve_exposes_the_promoted_adapter(settings: Settings, smollm2_adapter: Path, monkeypatch) -> None:  # noqa: F811
    monkeypatch.setattr(persona_switch, "_providers", {})
    cli("adapters", "promote", "pirate", register(settings, smollm2_adapter, "v1"))
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "agent.cli.main", "serve", "--port", str(port), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=settings.home)
    try:
        started = first_line(proc, timeout=240)
        assert started, proc.stderr.read() if proc.poll() is not None else "no answer within 240 s"
        doc = json.loads(started)
        assert doc["personas"] == {"pirate": "pirate-lora-v1"} and doc["base_url"] == f"http://127.0.0.1:{port}/v1"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/lora-adapters", timeout=10) as resp:
            loaded = json.loads(resp.read())
        assert [Path(a["path"]).stem for a in loaded] == ["pirate-lora-v1"]

        settings.llm.provider, settings.llm.base_url, settings.llm.lora_api = "openai", doc["base_url"], "llamacpp"
        settings.llm.max_new_tokens = 12
        router = Router(settings, registry=fake_registry(), provider=get_provider(settings))
        ask(router, "talk like the pirate")
        pirate = ask(router, "What is the capital of France?")
        assert pirate["adapter"] == "pirate-lora/v1" and pirate["text"].strip()
        # The same request with and without the adapter's lora id: the random adapter changes the answer.
        messages = [{"role": "user", "content": "What is the capital of France?"}]
        texts = [persona_switch.provider_for(settings, "pirate").inner.chat(messages, max_tokens=12).text]
        plain = get_provider(settings)
        texts.append(plain.chat(messages, max_tokens=12).text)
        assert texts[0] != texts[1], texts
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
