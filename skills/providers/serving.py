"""What each persona serves where (for `selftune doctor`): provider, model name or adapter, reachable or not,
and one sentence of advice when its chats cannot reach that model."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from pathlib import Path

from pydantic import BaseModel, Field

from config.errors import SelftuneError
from config.settings import Settings
from skills.providers.persona import llamacpp_lora_id, ollama_host, ollama_model, served_name

PROBE_TIMEOUT_S = 3.0


class PersonaServing(BaseModel):
    """One persona's chat model as configured now."""

    persona: str
    provider: str = Field(description="local, ollama or openai (llm.provider).")
    model: str = Field(description="The model name its chats ask for (the base, or the adapter's model).")
    adapter: str | None = Field(None, description="The promoted adapter id, or None for the base model.")
    where: str = Field(description="The server URL, or 'this machine'.")
    reachable: bool = Field(description="Whether the server answered (always true for the local provider).")
    ready: bool = Field(description="Whether the model is there to answer (an Ollama persona model is made on use).")
    advice: str | None = Field(None, description="One sentence: what to do when not ready.")


def _get_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT_S) as resp:  # noqa: S310 - configured servers only
        return json.loads(resp.read() or b"null")


def answers(url: str, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """Whether a server answers at url (an HTTP error still means one answered, only not on this path)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout):  # noqa: S310 - configured servers only
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException):  # nothing speaks HTTP there
        return False


def _local(settings: Settings, persona: str, adapter: str | None, folder: Path | None) -> PersonaServing:
    ready = adapter is None or (folder is not None and folder.is_dir())
    advice = None if ready else (f"The folder of {adapter} is missing; promote another adapter or "
                                 f"`selftune rollback {persona}`.")
    return PersonaServing(persona=persona, provider="local", model=settings.llm.model, adapter=adapter,
                          where="this machine", reachable=True, ready=ready, advice=advice)


def _ollama(settings: Settings, persona: str, adapter: str | None) -> PersonaServing:
    from skills.export import ollama

    host = ollama_host(settings)
    model = ollama_model(persona, adapter) if adapter else settings.llm.model
    reachable = answers(host.rstrip("/") + "/api/version")
    present = reachable and ollama.has_model(host, model)
    if not reachable:
        advice = f"Ollama does not answer at {host}; start it (`ollama serve`) or change llm.base_url."
    elif present or adapter:  # a persona model missing on the server is created from the adapter on first use
        advice = None
    else:
        advice = f"Ollama at {host} has no model '{model}'; run `ollama pull {model}` or change llm.model."
    return PersonaServing(persona=persona, provider="ollama", model=model, adapter=adapter, where=host,
                          reachable=reachable, ready=reachable and (present or adapter is not None), advice=advice)


def _openai_has(settings: Settings, base: str, model: str, adapter: str | None) -> bool:
    """Whether an OpenAI-compatible server offers the model (or, for llama.cpp, has the LoRA loaded)."""
    if adapter and settings.llm.lora_api == "llamacpp":
        try:
            llamacpp_lora_id(base, model, timeout=PROBE_TIMEOUT_S)
            return True
        except SelftuneError:
            return False
    try:
        listed = _get_json(base.rstrip("/") + "/models")
    except (urllib.error.URLError, OSError, ValueError):
        return False
    return any(m.get("id") == model for m in (listed or {}).get("data", []) if isinstance(m, dict))


def _openai(settings: Settings, persona: str, adapter: str | None) -> PersonaServing:
    base = settings.llm.base_url or ""
    model = served_name(adapter) if adapter else settings.llm.model
    reachable = bool(base) and answers(base.rstrip("/") + "/models")
    ready = reachable and _openai_has(settings, base, model, adapter)
    if not base:
        advice = "llm.base_url is not set; set it to the OpenAI-compatible server's URL."
    elif not reachable:
        advice = f"Nothing answers at {base}; start the server (e.g. `selftune serve`) or change llm.base_url."
    elif not ready:
        advice = f"{base} does not serve '{model}'; load it there (`selftune serve` loads every promoted adapter)."
    else:
        advice = None
    return PersonaServing(persona=persona, provider="openai", model=model, adapter=adapter, where=base or "(unset)",
                          reachable=reachable, ready=ready, advice=advice)


def persona_serving(settings: Settings) -> list[PersonaServing]:
    """Every persona in the workspace with the model its chats reach through the configured provider."""
    from skills.personas import list_personas
    from skills.train.adapters import adapters_root, served_map

    served = served_map(settings)
    result = []
    for persona in list_personas(settings.workspace_dir):
        adapter = served.get(persona)
        if settings.llm.provider == "ollama":
            result.append(_ollama(settings, persona, adapter))
        elif settings.llm.provider == "openai":
            result.append(_openai(settings, persona, adapter))
        else:
            folder = adapters_root(settings) / adapter if adapter else None
            result.append(_local(settings, persona, adapter, folder))
    return result
