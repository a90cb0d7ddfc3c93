"""The provider interface every chat model sits behind, and what a chat call returns."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from config.errors import SelftuneError

TokenSink = Callable[[str], None]
"""Hears a plain answer's text piece by piece as the model writes it (`on_token` of Provider.chat)."""


class ProviderUnavailable(SelftuneError):
    """The model server is unreachable, timed out or refused the request."""


class ToolCall(BaseModel):
    """One tool call the model asked for. `error` is set when its arguments were not valid JSON."""

    model_config = ConfigDict(extra="forbid")
    id: str = ""
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None


class ChatResult(BaseModel):
    """A model's answer: text and/or tool calls, and which model gave it."""

    model_config = ConfigDict(extra="forbid")
    text: str = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    model: str = ""
    degenerate: bool = False  # the answer looped and was cut at its first repeat (skills.providers.degenerate)


@runtime_checkable
class Provider(Protocol):
    """Anything that answers chat messages (OpenAI-compatible, Ollama, local transformers, fallback)."""

    name: str

    def chat(
        self,
        messages: list[dict[str, Any]],
        *,
        tools: list[dict[str, Any]] | None = None,
        max_tokens: int | None = None,
        temperature: float = 0.0,
        on_token: TokenSink | None = None,
    ) -> ChatResult:
        """Answer the conversation; raise ProviderUnavailable when the model cannot be reached.

        With `on_token` and no tools, the answer's text is also handed over piece by piece as it is written;
        the ChatResult still carries the whole text.
        """
        ...


def parse_arguments(raw: Any) -> tuple[dict[str, Any], str | None]:
    """Tool-call arguments as a dict, tolerating JSON strings; returns (args, error)."""
    import json

    if isinstance(raw, dict):
        return raw, None
    if raw in (None, ""):
        return {}, None
    try:
        value = json.loads(raw)
    except (TypeError, ValueError) as exc:
        return {}, f"arguments are not valid JSON ({exc})"
    if not isinstance(value, dict):
        return {}, "arguments must be a JSON object"
    return value, None
