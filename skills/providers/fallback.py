"""A chain of providers: the first that answers wins; each one's own timeout bounds the wait."""

from __future__ import annotations

import logging
from typing import Any

from skills.providers.base import ChatResult, Provider, ProviderUnavailable

log = logging.getLogger(__name__)


class FallbackProvider:
    """Try each provider in order; raise ProviderUnavailable only when all of them failed."""

    def __init__(self, providers: list[Provider]):
        if not providers:
            raise ValueError("FallbackProvider needs at least one provider")
        self.providers = providers
        self.name = "+".join(p.name for p in providers)

    def chat(
        self,
        messages: list[dict[str, Any]],
        *,
        tools: list[dict[str, Any]] | None = None,
        max_tokens: int | None = None,
        temperature: float = 0.0,
    ) -> ChatResult:
        """Answer with the first provider that is reachable."""
        failures: list[str] = []
        for provider in self.providers:
            try:
                return provider.chat(messages, tools=tools, max_tokens=max_tokens, temperature=temperature)
            except ProviderUnavailable as exc:
                log.warning("provider %s unavailable: %s", provider.name, exc)
                failures.append(str(exc))
        raise ProviderUnavailable(failures[0] if len(failures) == 1 else " Then: ".join(failures))
