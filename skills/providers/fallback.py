"""A chain of providers: the first that answers wins; each one's own timeout bounds the wait."""

from __future__ import annotations

import logging
from typing import Any

from skills.providers.base import ChatResult, Provider, ProviderUnavailable, TokenSink

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
        on_token: TokenSink | None = None,
    ) -> ChatResult:
        """Answer with the first provider that is reachable (one that failed mid-answer ends the chain)."""
        failures: list[str] = []
        heard: list[str] = []
        sink = None if on_token is None else _counting(on_token, heard)
        for provider in self.providers:
            try:
                stream = {"on_token": sink} if sink is not None else {}
                return provider.chat(messages, tools=tools, max_tokens=max_tokens, temperature=temperature, **stream)
            except ProviderUnavailable as exc:
                log.warning("provider %s unavailable: %s", provider.name, exc)
                failures.append(str(exc))
                if heard:  # the user already saw part of this answer; a second model would start another one
                    break
        raise ProviderUnavailable(failures[0] if len(failures) == 1 else " Then: ".join(failures))


def _counting(on_token: TokenSink, heard: list[str]) -> TokenSink:
    """`on_token` that also records what was handed over."""
    def sink(piece: str) -> None:
        heard.append(piece)
        on_token(piece)

    return sink
