"""`selftune serve` as a user runs it: a real llama.cpp server (xllamacpp) on 127.0.0.1 with SmolLM2's GGUF and
the promoted pirate adapter, behind the front that names models as OpenAI clients expect (`base`, `pirate`). The
official `openai` client picks the persona by model name; the router still reaches it through llm.lora_api =
"llamacpp". One server for the whole module: it takes a while to start."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from agent import persona_switch
from agent.router import Router
from config.messages import IncomingMessage
from config.settings import Settings
from config.state import ensure_state_dir
from skills.export.serve import free_port
from skills.personas import load_persona
from skills.providers import get_provider
from tests.agent.fake_skills import fake_registry
from tests.agent.test_persona_serving import cli, register, smollm2_adapter  # noqa: F401 - a fixture
from tests.conftest import MODEL_CACHE, REPO

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


QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, smollm2_adapter: Path) -> Iterator[tuple[Settings, dict]]:  # noqa: F811
    """`selftune serve --json` started once with the pirate adapter promoted: (settings, its JSON document)."""
    home = tmp_path_factory.mktemp("serve") / "home"
    home.mkdir()
    (home / "models").symlink_to(MODEL_CACHE, target_is_directory=True)
    with pytest.MonkeyPatch.context() as env:
        for key in [k for k in os.environ if k.startswith("SELFTUNE_")]:
            env.delenv(key)
        env.setenv("SELFTUNE_HOME", str(home))
        env.setenv("SELFTUNE_BASE_MODEL", "tiny")
        settings = Settings(home=home, base_model="tiny")
        ensure_state_dir(settings)
        cli("adapters", "promote", "pirate", register(settings, smollm2_adapter, "v1"))
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-m", "agent.cli.main", "serve", "--port", str(port), "--json"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=home)
    try:
        started = first_line(proc, timeout=240)
        assert started, proc.stderr.read() if proc.poll() is not None else "no answer within 240 s"
        doc = json.loads(started)
        assert doc["base_url"] == f"http://127.0.0.1:{port}/v1"
        yield settings, doc
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0


def client(doc: dict) -> openai.OpenAI:
    return openai.OpenAI(base_url=doc["base_url"], api_key="not-needed", timeout=120, max_retries=0)


def answer(doc: dict, model: str, messages: list[dict], **extra: object) -> str:
    reply = client(doc).chat.completions.create(model=model, messages=messages, max_tokens=8, temperature=0,
                                                extra_body=extra or None)
    return reply.choices[0].message.content or ""


def test_openai_client_lists_and_chooses_models_by_name(served) -> None:
    settings, doc = served
    assert [m.id for m in client(doc).models.list().data] == ["base", "pirate"]
    assert doc["models"] == ["base", "pirate"]
    pirate = answer(doc, "pirate", QUESTION)
    # What "pirate" must be: the adapter at scale 1 (llama.cpp's own `lora` field) plus the card's system prompt.
    card = load_persona(settings.workspace_dir, "pirate").system_prompt
    by_hand = answer(doc, "base", [{"role": "system", "content": card}, *QUESTION], lora=[{"id": 0, "scale": 1.0}])
    assert pirate == by_hand and pirate.strip()
    assert pirate != answer(doc, "base", QUESTION)  # the base alone answers otherwise
    assert pirate != answer(doc, "base", QUESTION, lora=[{"id": 0, "scale": 1.0}])  # the system prompt counts


def test_streaming_a_persona_gives_the_same_answer(served) -> None:
    _settings, doc = served
    stream = client(doc).chat.completions.create(model="pirate", messages=QUESTION, max_tokens=8, temperature=0,
                                                 stream=True)
    pieces = [chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices]
    assert len(pieces) > 1 and "".join(pieces) == answer(doc, "pirate", QUESTION)


def test_an_unknown_model_is_a_404_naming_the_known_ones(served) -> None:
    _settings, doc = served
    with pytest.raises(openai.NotFoundError) as missing:
        answer(doc, "nope", QUESTION)
    assert "'nope' is not served here" in str(missing.value) and "base, pirate" in str(missing.value)
    with pytest.raises(openai.NotFoundError):
        client(doc).models.retrieve("nope")


def test_the_router_reaches_the_adapter_through_serve(served, monkeypatch) -> None:
    settings, doc = served
    monkeypatch.setattr(persona_switch, "_providers", {})
    port = doc["base_url"].split(":")[-1].split("/")[0]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/lora-adapters", timeout=10) as resp:
        loaded = json.loads(resp.read())
    assert [Path(a["path"]).stem for a in loaded] == ["pirate-lora-v1"] and doc["personas"] == {"pirate": "pirate-lora-v1"}
    settings.llm.provider, settings.llm.base_url, settings.llm.lora_api = "openai", doc["base_url"], "llamacpp"
    settings.llm.max_new_tokens = 12
    router = Router(settings, registry=fake_registry(), provider=get_provider(settings))
    ask(router, "talk like the pirate")
    pirate = ask(router, "What is the capital of France?")
    assert pirate["adapter"] == "pirate-lora/v1" and pirate["text"].strip()
    # The same request with and without the adapter's lora id: the random adapter changes the answer.
    texts = [persona_switch.provider_for(settings, "pirate").inner.chat(QUESTION, max_tokens=12).text]
    texts.append(get_provider(settings).chat(QUESTION, max_tokens=12).text)
    assert texts[0] != texts[1], texts
