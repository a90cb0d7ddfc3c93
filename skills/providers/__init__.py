"""LLM providers behind one interface: `get_provider(settings, role)` builds the configured chain."""

from __future__ import annotations

from typing import Literal

from config.settings import Settings
from skills.providers.base import ChatResult, Provider, ProviderUnavailable, ToolCall
from skills.providers.degenerate import Decoding, decoding_of
from skills.providers.fallback import FallbackProvider

__all__ = ["ChatResult", "Provider", "ProviderUnavailable", "ToolCall", "FallbackProvider", "get_provider", "build_provider"]


def build_provider(
    settings: Settings, kind: str, *, model: str, base_url: str | None, timeout_s: float, api_key: str | None,
    decoding: Decoding | None = None,
) -> Provider:
    """One provider of the given kind ('local', 'openai' or 'ollama'); `decoding` None: greedy, unpenalised."""
    if kind == "openai":
        from skills.providers.openai_compat import OpenAIProvider

        return OpenAIProvider(model, base_url=base_url, api_key=api_key, timeout_s=timeout_s, decoding=decoding,
                              llamacpp=settings.llm.lora_api == "llamacpp")
    if kind == "ollama":
        from skills.providers.ollama_provider import OllamaProvider

        return OllamaProvider(model, host=base_url or settings.ollama.host, timeout_s=timeout_s, decoding=decoding)
    from skills.providers.local import LocalProvider

    return LocalProvider(model, settings.models_dir, timeout_s=timeout_s, max_new_tokens=settings.llm.max_new_tokens,
                         allow_download=settings.models.allow_download, decoding=decoding)


def chat_decoding(settings: Settings) -> Decoding:
    """The repetition control of the assistant's chat answers (Settings.llm)."""
    return decoding_of(settings.llm)


def get_provider(settings: Settings, role: Literal["llm", "judge"] = "llm") -> Provider:
    """The chat provider for the assistant ('llm', with its fallback chain) or the evaluation judge."""
    if role == "judge":
        cfg = settings.judge
        return build_provider(settings, cfg.provider, model=cfg.model or settings.base_model, base_url=cfg.base_url,
                              timeout_s=cfg.timeout_s, api_key=settings.secret("judge_api_key"))
    cfg = settings.llm
    decoding = chat_decoding(settings)
    main = build_provider(settings, cfg.provider, model=cfg.model, base_url=cfg.base_url,
                          timeout_s=cfg.timeout_s, api_key=settings.secret("openai_api_key"), decoding=decoding)
    # A local fallback behind a remote model runs the local base model, not the remote model's name.
    chain = [main] + [
        build_provider(settings, kind, model=settings.base_model if kind == "local" else cfg.model,
                       base_url=None, timeout_s=cfg.timeout_s, api_key=settings.secret("openai_api_key"),
                       decoding=decoding)
        for kind in cfg.fallback if kind != cfg.provider
    ]
    return main if len(chain) == 1 else FallbackProvider(chain)
