""""talk like the pirate": switch a channel's persona, and answer with the adapter that persona serves.

The channel's session keeps the persona name; each chat turn looks up the persona's served adapter
(adapters/served.toml), so a promotion or a rollback takes effect on the next message. With the local
provider every persona's adapter is loaded once onto one shared base (skills.train.hotswap.AdapterHost) and
switched in for its answer; the plain provider keeps its own, adapter-free copy. With ollama or openai the
turn goes to the persona's model at that server (skills.providers.persona).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from config.errors import SelftuneError
from config.messages import Reply
from config.settings import Settings
from skills.providers.local import LocalProvider, generate_lock

_providers: dict[tuple[str, ...], Any] = {}
_hosts: dict[tuple[str, str], tuple[Any, Any]] = {}  # (models_dir, base) -> (AdapterHost, tokenizer)
_lock = threading.Lock()


def _shared_host(model_name: str, models_dir: Path, allow_download: bool = False) -> tuple[Any, Any]:
    """One base copy per base model carries every persona adapter (the plain provider keeps its own)."""
    from skills.models import load_model
    from skills.train.hotswap import AdapterHost

    key = (str(models_dir), model_name)
    with _lock:
        if key not in _hosts:
            model, tokenizer = load_model(model_name, models_dir, allow_download=allow_download)
            _hosts[key] = (AdapterHost(model), tokenizer)
        return _hosts[key]


class AdapterProvider(LocalProvider):
    """The local provider answering with one LoRA adapter, switched in on the shared adapter host."""

    name = "local+adapter"

    def __init__(self, model: str, models_dir: Path, adapter_id: str, adapter_dir: Path, **kwargs: Any) -> None:
        super().__init__(model, models_dir, **kwargs)
        self.adapter_id, self.adapter_dir = adapter_id, adapter_dir
        self.adapter_key = adapter_id.replace("/", "-").replace(".", "_")  # PEFT adapter names are module keys

    def load(self) -> tuple[Any, Any]:
        """The shared base with this adapter loaded (once) and active."""
        host, tokenizer = _shared_host(self.model_name, self.models_dir, self.allow_download)
        host.load(self.adapter_key, self.adapter_dir)
        host.activate(self.adapter_key)
        return host.model, tokenizer

    def chat(self, messages: list[dict[str, Any]], **kwargs: Any) -> Any:
        """Generate with this adapter; the generation lock keeps another persona from switching mid-answer."""
        with generate_lock:
            return super().chat(messages, **kwargs)


def switch(settings: Settings, session: Any, persona: str | None) -> Reply:
    """Make `persona` the channel's persona (None: back to the plain assistant) and say what answers now."""
    from skills.personas import load_persona

    if persona is None:
        session.persona, session.persona_prompt = None, None
        return Reply(text="OK, back to my usual self here.", intent="persona", args={"persona": None})
    card = load_persona(settings.workspace_dir, persona)
    session.persona, session.persona_prompt, session.last_persona = card.name, card.system_prompt, card.name
    adapter = served_id(settings, card.name)
    using = f"with adapter {adapter}" if adapter else "with the base model (no adapter is served for it yet)"
    return Reply(text=f"Arr, {card.name} it is for this channel — answering {using}.", intent="persona",
                 args={"persona": card.name, "adapter": adapter})


def served_id(settings: Settings, persona: str) -> str | None:
    """The adapter id the persona serves now, or None."""
    from skills.train.adapters import served_map

    return served_map(settings).get(persona)


def voice_of(settings: Settings, persona: str | None) -> str | None:
    """The system prompt the persona's adapters are trained with (skills.jobs.submit puts it in every row), so
    chat turns that adapter answers see the same one; None when the persona has none."""
    from skills.personas import load_persona

    if persona is None:
        return None
    try:
        return load_persona(settings.workspace_dir, persona).system_prompt or None
    except SelftuneError:
        return None


def provider_for(settings: Settings, persona: str | None) -> Any | None:
    """The provider answering with the persona's served adapter (local, ollama or openai), or None for the base."""
    return adapter_provider(settings, persona, served_id(settings, persona) if persona else None)


def adapter_provider(settings: Settings, persona: str | None, adapter_id: str | None) -> Any | None:
    """The provider answering as `persona` with `adapter_id` (a served or a canary adapter), or None for the base."""
    if persona is None or adapter_id is None:
        return None
    from skills.train.adapters import get_adapter

    try:
        info = get_adapter(settings, adapter_id)
    except SelftuneError:
        return None
    cfg = settings.llm
    key = (str(settings.home), cfg.provider, cfg.base_url or "", cfg.lora_api, persona, info.id)
    with _lock:
        if key not in _providers:
            _providers[key] = _build(settings, persona, info)
        return _providers[key]


def _build(settings: Settings, persona: str, info: Any) -> Any:
    if settings.llm.provider == "local":
        from skills.providers import chat_decoding

        return AdapterProvider(info.base_model, settings.models_dir, info.id, Path(info.path),
                               timeout_s=settings.llm.timeout_s, max_new_tokens=settings.llm.max_new_tokens,
                               allow_download=settings.models.allow_download, decoding=chat_decoding(settings))
    from skills.providers.persona import remote_persona_provider

    return remote_persona_provider(settings, persona, info.id)
