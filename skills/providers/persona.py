"""A persona's chat turns answered by its promoted adapter through the configured remote provider.

- ollama: the persona's own model `selftune-<persona>:<adapter served name>` (base GGUF + LoRA GGUF, SYSTEM
  from the persona card, TEMPLATE from the base GGUF), created on first use when the server lacks it.
- openai: a server that serves LoRA adapters by name. `llm.lora_api = "vllm"`: model = the adapter's served
  name (`--lora-modules NAME=PATH`); "llamacpp": llama.cpp's per-request `lora` field, the adapter's id found by
  name in GET /lora-adapters (the LoRA GGUF's file name, as `selftune serve` loads them).
A rollback moves the served pointer, so the next turn is routed to the previous adapter the same way.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from config.errors import SelftuneError
from config.settings import Settings
from skills.providers.base import ChatResult, Provider, ProviderUnavailable

_ready_lock = threading.Lock()


def served_name(adapter_id: str) -> str:
    """The name an adapter is served under: "pirate-lora/v2" -> "pirate-lora-v2"."""
    return adapter_id.replace("/", "-")


def ollama_model(persona: str, adapter_id: str) -> str:
    """The persona's Ollama model, one tag per adapter so a rollback needs no rebuild."""
    return f"selftune-{persona}:{served_name(adapter_id)}".lower()


class PersonaProvider:
    """A provider answering with one persona adapter; `prepare` runs once before its first answer."""

    def __init__(self, inner: Provider, adapter_id: str, prepare: Callable[[], None] | None = None) -> None:
        self.inner, self.adapter_id, self._prepare = inner, adapter_id, prepare
        self.name = f"{inner.name}+adapter"

    def chat(self, messages: list[dict[str, Any]], **kwargs: Any) -> ChatResult:
        """Answer with the adapter; a persona model that cannot be made ready is ProviderUnavailable."""
        with _ready_lock:
            if self._prepare is not None:
                try:
                    self._prepare()
                except SelftuneError as exc:
                    raise ProviderUnavailable(f"The model for adapter {self.adapter_id} is not ready: {exc}") from None
                self._prepare = None
        return self.inner.chat(messages, **kwargs)


def ollama_host(settings: Settings) -> str:
    """The Ollama server persona models live on: the chat server when chats go to Ollama, else ollama.host."""
    cfg = settings.llm
    return cfg.base_url if cfg.provider == "ollama" and cfg.base_url else settings.ollama.host


def persona_alias(persona: str) -> str:
    """The name Ollama users run the persona by (`ollama run selftune-pirate`): points at what it serves."""
    return f"selftune-{persona}:latest".lower()


def pulled_base(settings: Settings, persona: str | None) -> str | None:
    """The Ollama model the persona's adapters apply on: its card's ollama_base_model, else ollama.base_model."""
    from skills.personas import list_personas, load_persona

    if persona and persona in list_personas(settings.workspace_dir):
        return load_persona(settings.workspace_dir, persona).ollama_base_model or settings.ollama.base_model
    return settings.ollama.base_model


def ensure_ollama_model(settings: Settings, persona: str, adapter_id: str) -> str:
    """Create the persona's Ollama model for the adapter unless the server has it; returns its name.

    With a pulled base (ollama.base_model or the card's): FROM it + ADAPTER (only the LoRA GGUF is made and
    sent); otherwise the base GGUF is uploaded with the adapter."""
    from skills.export import ollama
    from skills.export.ollama_pulled import create_from_pulled
    from skills.export.run import export_adapter
    from skills.personas import load_persona

    host = ollama_host(settings)
    name = ollama_model(persona, adapter_id)
    if ollama.has_model(host, name):
        return name
    card = load_persona(settings.workspace_dir, persona)
    if (base := pulled_base(settings, persona)) is not None:
        cfg = settings.ollama
        create_from_pulled(host, name, base, adapter_id, _lora_gguf(settings, adapter_id), card.system_prompt,
                           (cfg.num_ctx, cfg.temperature, cfg.repeat_penalty))
        return name
    doc = export_adapter(settings, adapter_id, "gguf")
    ollama.create_persona_model(host, name, Path(doc["base_gguf"]), Path(doc["path"]), card.system_prompt,
                                settings.ollama.num_ctx)
    return name


def _lora_gguf(settings: Settings, adapter_id: str) -> Path:
    """The adapter's LoRA GGUF, written where the executor runs (with ray: on the GPU box, which has the base)."""
    if settings.executor.kind == "ray":
        from skills.jobs.heavy import lora_gguf_on_executor

        return lora_gguf_on_executor(settings, adapter_id)
    from skills.export.run import export_lora_gguf

    return export_lora_gguf(settings, adapter_id)


def repoint_alias(settings: Settings, persona: str) -> str | None:
    """Point `selftune-<persona>:latest` at what the persona serves now (after a promotion or rollback).

    Only with a pulled base configured; returns one sentence of what happened (None when there is nothing to do)."""
    from skills.export.ollama import server_version
    from skills.export.ollama_pulled import copy_model, create_plain
    from skills.personas import load_persona
    from skills.train.adapters import served_map

    base = pulled_base(settings, persona)
    host, alias = ollama_host(settings), persona_alias(persona)
    if base is None or server_version(host) is None:
        return None
    adapter = served_map(settings).get(persona)
    try:
        if adapter is None:  # the plain pulled model with the persona's SYSTEM
            cfg = settings.ollama
            create_plain(host, alias, base, load_persona(settings.workspace_dir, persona).system_prompt,
                         (cfg.num_ctx, cfg.temperature, cfg.repeat_penalty))
        else:
            copy_model(host, ensure_ollama_model(settings, persona, adapter), alias)
    except SelftuneError as exc:
        return f"Ollama model {alias} still serves its previous model: {exc}"
    return f"Ollama model {alias} now serves {adapter or base}."


def llamacpp_lora_id(base_url: str, name: str, timeout: float = 10.0) -> int:
    """The id llama.cpp gave the LoRA GGUF called `name` (GET /lora-adapters on the server root)."""
    root = base_url.rstrip("/").removesuffix("/v1")
    try:
        with urllib.request.urlopen(f"{root}/lora-adapters", timeout=timeout) as resp:
            loaded = json.loads(resp.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise SelftuneError(f"cannot list the adapters of {root} ({exc})") from None
    for item in loaded:
        if Path(str(item.get("path", ""))).stem == name:
            return int(item["id"])
    raise SelftuneError(f"{root} has no LoRA adapter named {name}; start it with `selftune serve` or load {name}.gguf")


def remote_persona_provider(settings: Settings, persona: str, adapter_id: str) -> PersonaProvider:
    """The configured remote provider (ollama or openai), pointed at the persona's adapter."""
    from skills.providers import build_provider, chat_decoding
    from skills.providers.openai_compat import OpenAIProvider

    cfg = settings.llm
    if cfg.provider == "ollama":
        inner = build_provider(settings, "ollama", model=ollama_model(persona, adapter_id), base_url=cfg.base_url,
                               timeout_s=cfg.timeout_s, api_key=None, decoding=chat_decoding(settings))

        def make_model() -> None:
            ensure_ollama_model(settings, persona, adapter_id)

        return PersonaProvider(inner, adapter_id, make_model)
    name = served_name(adapter_id)
    openai = OpenAIProvider(name, base_url=cfg.base_url, api_key=settings.secret("openai_api_key"),
                            timeout_s=cfg.timeout_s, decoding=chat_decoding(settings),
                            llamacpp=cfg.lora_api == "llamacpp")
    if cfg.lora_api != "llamacpp":
        return PersonaProvider(openai, adapter_id)

    def pick_lora() -> None:
        # Adapters not listed in a request's `lora` run at scale 0, so only this persona's applies.
        openai.extra_body = {"lora": [{"id": llamacpp_lora_id(cfg.base_url or "", name), "scale": 1.0}]}

    return PersonaProvider(openai, adapter_id, pick_lora)
