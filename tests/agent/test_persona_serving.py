"""A promoted persona adapter answers that persona's chats through the configured provider (Ollama, or an
OpenAI-compatible server by adapter name), and a rollback sends the next chat back to the previous model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent import persona_switch
from agent.cli.main import app
from agent.router import Router
from config.messages import IncomingMessage
from config.settings import Settings
from config.workspace import open_workspace
from skills.chat_templates import OLLAMA
from skills.personas import load_persona
from skills.providers import get_provider
from tests.agent.fake_skills import fake_registry
from tests.eval.fake_ollama import FakeOllama
from tests.eval.fake_openai import ScriptedOpenAI


@pytest.fixture(scope="module")
def smollm2_adapter(tmp_path_factory: pytest.TempPathFactory, smollm2_dir: Path) -> Path:
    """A small random LoRA on SmolLM2 (the base with a packaged GGUF), saved like a trained adapter."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("adapter") / "v1"
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(smollm2_dir),
                           LoraConfig(r=2, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    model.save_pretrained(out)
    return out


def register(settings: Settings, adapter: Path, version: str) -> str:
    """Put the adapter into the registry as pirate-lora/<version>, as a finished training job does."""
    open_workspace(settings)  # the workspace (with the default persona cards) exists from the first use on
    dest = settings.artifacts_dir / "adapters" / "pirate-lora" / version
    shutil.copytree(adapter, dest)
    manifest = {"name": "pirate-lora", "version": version, "base_model": "smollm2", "method": "lora",
                "persona": "pirate", "dataset_sha256": "0" * 64, "recipe": "persona-lora", "metrics": {},
                "parent": None, "created_at": "2026-11-30T00:00:00Z"}
    (dest / "manifest.json").write_text(json.dumps(manifest))
    return f"pirate-lora/{version}"


def cli(*args: str) -> None:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output


def chat(router: Router, text: str) -> dict:
    reply = router.handle(IncomingMessage(text=text, user="local", transport="console", channel="deck"))
    return {"text": reply.text, **reply.args}


@pytest.fixture(autouse=True)
def _fresh_providers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(persona_switch, "_providers", {})


def test_ollama_chat_uses_the_persona_model_and_rollback_the_previous(settings: Settings, smollm2_adapter: Path) -> None:
    v1, v2 = register(settings, smollm2_adapter, "v1"), register(settings, smollm2_adapter, "v2")
    with FakeOllama() as server:
        server.models["llama3.2"] = {}
        settings.llm.provider, settings.llm.model, settings.llm.base_url = "ollama", "llama3.2", server.host
        router = Router(settings, registry=fake_registry(), provider=get_provider(settings))
        assert chat(router, "talk like the pirate")["persona"] == "pirate"
        cli("adapters", "promote", "pirate", v1)
        first = chat(router, "hello there")
        chats = [body["model"] for method, path, body in server.calls if path == "/api/chat"]
        assert chats == ["selftune-pirate:pirate-lora-v1"] and first["adapter"] == v1
        created = server.models["selftune-pirate:pirate-lora-v1"]
        card = load_persona(settings.workspace_dir, "pirate")
        assert created["system"] == card.system_prompt
        assert created["template"] == OLLAMA["chatml"][0]  # SmolLM2's GGUF carries a ChatML template
        assert created["parameters"]["num_ctx"] == 4096 and created["parameters"]["stop"] == OLLAMA["chatml"][1]
        assert len(created["adapters"]) == 1 and len(created["files"]) == 1

        cli("adapters", "promote", "pirate", v2)
        chat(router, "and now?")
        cli("rollback", "pirate")  # back to v1: its model exists, nothing is rebuilt
        creates_before = sum(1 for _, path, _ in server.calls if path == "/api/create")
        chat(router, "still there?")
        cli("rollback", "pirate")  # back to no adapter: the configured model answers
        chat(router, "and now?")
        chats = [body["model"] for method, path, body in server.calls if path == "/api/chat"]
    assert chats[1:] == ["selftune-pirate:pirate-lora-v2", "selftune-pirate:pirate-lora-v1", "llama3.2"]
    assert sum(1 for _, path, _ in server.calls if path == "/api/create") == creates_before == 2


def test_openai_server_gets_the_adapter_name_and_rollback_the_base(settings: Settings, smollm2_adapter: Path) -> None:
    v1 = register(settings, smollm2_adapter, "v1")
    with ScriptedOpenAI(lambda body: f"answered by {body['model']}") as server:
        settings.llm.provider, settings.llm.model, settings.llm.base_url = "openai", "base-model", server.url
        router = Router(settings, registry=fake_registry(), provider=get_provider(settings))
        chat(router, "talk like the pirate")
        cli("adapters", "promote", "pirate", v1)
        assert chat(router, "hello")["text"] == "answered by pirate-lora-v1"
        cli("rollback", "pirate")
        assert chat(router, "hello")["text"] == "answered by base-model"
    assert [r["model"] for r in server.requests] == ["pirate-lora-v1", "base-model"]
    assert "lora" not in server.requests[0]
    # The adapter hears the system prompt it was trained with (the persona card's, as every training row has
    # it), not the assistant's tool prompt; the base model keeps the assistant's prompt with the persona in it.
    card = load_persona(settings.workspace_dir, "pirate")
    adapter_system, base_system = (r["messages"][0]["content"] for r in server.requests)
    assert adapter_system.startswith(card.system_prompt) and "selftune" not in adapter_system.split("\n\n")[0]
    assert base_system.startswith("You are selftune") and card.system_prompt in base_system
    # ...and the conversation as its training rows show it: chat turns only, no "talk like the pirate" exchange,
    # for the base model answering with the persona card too (issue 33: it copied the switch sentence).
    adapter_turns, base_turns = ([m["content"] for m in r["messages"][1:]] for r in server.requests)
    assert adapter_turns == ["hello"]
    assert "talk like the pirate" not in base_turns and "answered by pirate-lora-v1" in base_turns


def test_llamacpp_server_gets_the_adapter_by_its_lora_id(settings: Settings, smollm2_adapter: Path) -> None:
    v1 = register(settings, smollm2_adapter, "v1")
    loaded = [{"id": 0, "path": "/srv/ninja-lora-v3.gguf", "scale": 0.0},
              {"id": 1, "path": "/srv/pirate-lora-v1.gguf", "scale": 0.0}]
    with ScriptedOpenAI(lambda body: "arr", lora_adapters=loaded) as server:
        settings.llm.provider, settings.llm.base_url, settings.llm.lora_api = "openai", server.url, "llamacpp"
        router = Router(settings, registry=fake_registry(), provider=get_provider(settings))
        chat(router, "talk like the pirate")
        cli("adapters", "promote", "pirate", v1)
        chat(router, "hello")
        cli("rollback", "pirate")
        chat(router, "hello")
    assert server.requests[0]["lora"] == [{"id": 1, "scale": 1.0}]
    assert "lora" not in server.requests[1]


def test_llamacpp_server_without_the_adapter_says_so(settings: Settings, smollm2_adapter: Path) -> None:
    v1 = register(settings, smollm2_adapter, "v1")
    with ScriptedOpenAI(lambda body: "arr") as server:
        settings.llm.provider, settings.llm.base_url, settings.llm.lora_api = "openai", server.url, "llamacpp"
        router = Router(settings, registry=fake_registry(), provider=get_provider(settings))
        chat(router, "talk like the pirate")
        cli("adapters", "promote", "pirate", v1)
        reply = chat(router, "hello")
    assert "has no LoRA adapter named pirate-lora-v1" in reply["text"] and not server.requests


def test_a_channel_bound_to_the_persona_answers_with_its_adapter_without_a_switch(settings: Settings,
                                                                                smollm2_adapter: Path) -> None:
    """The owner bound #deck to the pirate and promoted an adapter: its chats go to the adapter from the first
    message on, in a fresh session too (nobody said "talk like the pirate")."""
    v1 = register(settings, smollm2_adapter, "v1")
    ws = open_workspace(settings)
    ws.write("personas/pirate.toml", ws.read("personas/pirate.toml").replace("channels = []", 'channels = ["deck"]'))
    ws.commit("pirate answers in #deck")
    cli("adapters", "promote", "pirate", v1)
    with ScriptedOpenAI(lambda body: f"answered by {body['model']}") as server:
        settings.llm.provider, settings.llm.model, settings.llm.base_url = "openai", "base-model", server.url
        settings.agent.session_ttl_s = 0.001  # every message after a pause starts a fresh session
        settings.llm.temperature = 0.7  # chat answers sample, as Ollama's and llama.cpp's defaults do
        router = Router(settings, registry=fake_registry(), provider=get_provider(settings))
        assert chat(router, "hello")["text"] == "answered by pirate-lora-v1"
        assert chat(router, "and again")["adapter"] == v1
        other = router.handle(IncomingMessage(text="hi", user="local", transport="console", channel="galley"))
    assert other.text == "answered by base-model"
    assert [r["temperature"] for r in server.requests] == [0.7, 0.7, 0.7]


def test_ollama_persona_model_is_made_from_the_pulled_model_and_rollback_repoints_it(
        settings: Settings, smollm2_adapter: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from skills.export.ollama_pulled import adapter_base

    v1, v2 = register(settings, smollm2_adapter, "v1"), register(settings, smollm2_adapter, "v2")
    base_ggufs = set(settings.models_dir.glob("gguf/*-f16.gguf"))  # the models folder may be the shared test cache
    with FakeOllama() as server:
        server.pull("smollm2:135m", "llama", "135M", context_length=8192)
        settings.llm.provider, settings.llm.model, settings.llm.base_url = "ollama", "smollm2:135m", server.host
        settings.ollama.base_model = "smollm2:135m"
        for key, value in {"LLM__PROVIDER": "ollama", "LLM__BASE_URL": server.host,
                           "OLLAMA__BASE_MODEL": "smollm2:135m"}.items():  # what the CLI's own Settings read
            monkeypatch.setenv(f"SELFTUNE_{key}", value)
        router = Router(settings, registry=fake_registry(), provider=get_provider(settings))
        cli("adapters", "promote", "pirate", v1)
        cli("adapters", "promote", "pirate", v2)
        assert server.models["selftune-pirate:latest"] is server.models["selftune-pirate:pirate-lora-v2"]
        chat(router, "talk like the pirate")
        chat(router, "hello there")
        cli("rollback", "pirate")
        rolled = server.models["selftune-pirate:latest"]
        chats = [body["model"] for _, path, body in server.calls if path == "/api/chat"]
    created = server.models["selftune-pirate:pirate-lora-v2"]
    card = load_persona(settings.workspace_dir, "pirate")
    assert created["from"] == "smollm2:135m" and created["system"] == card.system_prompt
    assert "template" not in created and "files" not in created and len(created["adapters"]) == 1
    assert created["parameters"]["num_ctx"] == 4096 and created["parameters"]["repeat_penalty"] == 1.1
    assert rolled is server.models["selftune-pirate:pirate-lora-v1"]  # the rollback re-pointed the persona's model
    assert chats[-1] == "selftune-pirate:pirate-lora-v2"
    lora = settings.artifacts_dir / "exports" / "v2" / "v2.gguf"
    assert adapter_base(lora) == ("llama", 134_515_008)
    assert set(settings.models_dir.glob("gguf/*-f16.gguf")) == base_ggufs  # no base GGUF was made or sent
    assert server.blobs and max(server.blobs.values()) < 2_000_000  # only the adapter (KBs here) travelled


def test_export_to_ollama_refuses_an_adapter_of_another_base(settings: Settings, smollm2_adapter: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    v1 = register(settings, smollm2_adapter, "v1")
    with FakeOllama() as server:
        server.pull("qwen3:8b", "qwen3", "8.2B", parameter_count=8_190_735_360)
        monkeypatch.setenv("SELFTUNE_OLLAMA__HOST", server.host)
        monkeypatch.setenv("SELFTUNE_OLLAMA__BASE_MODEL", "qwen3:8b")
        result = CliRunner().invoke(app, ["export", v1, "--to", "ollama", "--executor", "local"])
    assert result.exit_code != 0
    assert ("Adapter pirate-lora/v1 was trained on a llama model of 135M, but Ollama's qwen3:8b is a qwen3 model "
            "of 8.2B") in " ".join(result.output.replace("│", " ").split())
    assert not any(path == "/api/create" for _, path, _ in server.calls)
