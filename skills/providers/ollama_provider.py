"""Ollama through the official `ollama` client."""

from __future__ import annotations

from typing import Any

import httpx
import ollama

from skills.providers.base import ChatResult, ProviderUnavailable, TokenSink, ToolCall, parse_arguments
from skills.providers.degenerate import Decoding, trimmed


class OllamaProvider:
    """Chat with a model served by Ollama."""

    name = "ollama"

    def __init__(self, model: str, host: str = "http://127.0.0.1:11434", timeout_s: float = 60.0,
                 decoding: Decoding | None = None):
        self.decoding = decoding  # None: greedy and unpenalised, no loop guard (evaluation, judges)
        self.model = model
        self.host = host
        self.client = ollama.Client(host=host, timeout=timeout_s)

    def chat(
        self,
        messages: list[dict[str, Any]],
        *,
        tools: list[dict[str, Any]] | None = None,
        max_tokens: int | None = None,
        temperature: float = 0.0,
        on_token: TokenSink | None = None,
    ) -> ChatResult:
        """One chat call; an unreachable server, a timeout or a missing model becomes ProviderUnavailable.

        With `on_token` and no tools the answer is streamed (`stream=True`, one JSON line per piece)."""
        options: dict[str, Any] = {"temperature": temperature}
        if max_tokens:
            options["num_predict"] = max_tokens
        if self.decoding is not None:
            options.update(repeat_penalty=self.decoding.repetition_penalty, repeat_last_n=self.decoding.repeat_last_n,
                           stop=list(self.decoding.stop))
        try:
            if on_token is not None and not tools:
                return self._streamed(messages, options, on_token)
            response = self.client.chat(model=self.model, messages=messages, tools=tools or None, options=options)
        except httpx.TimeoutException:
            raise ProviderUnavailable(f"Ollama at {self.host} timed out; try again or raise llm.timeout_s.") from None
        except (httpx.HTTPError, ConnectionError):
            raise ProviderUnavailable(f"Cannot reach Ollama at {self.host}; start it with `ollama serve`.") from None
        except ollama.ResponseError as exc:
            raise ProviderUnavailable(
                f"Ollama at {self.host} refused model '{self.model}' ({exc.error}); `ollama pull` it first."
            ) from None
        return self._result(response)

    def _streamed(self, messages: list[dict[str, Any]], options: dict[str, Any], on_token: TokenSink) -> ChatResult:
        """The answer read line by line, each piece of text handed to `on_token` as it arrives."""
        pieces: list[str] = []
        model = self.model
        sink = self.decoding.guard(on_token) if self.decoding is not None else on_token
        stream = self.client.chat(model=self.model, messages=messages, options=options, stream=True)
        for part in stream:
            model = part.model or model
            piece = part.message.content if part.message else None
            if piece:
                pieces.append(piece)
                sink(piece)
            if getattr(sink, "stopped", False):
                stream.close()  # a looping answer: stop reading, so the server stops writing
                break
        return trimmed(ChatResult(text="".join(pieces), model=model), self.decoding)

    def _result(self, response: Any) -> ChatResult:
        message = response.message
        calls = []
        for i, call in enumerate(message.tool_calls or []):
            args, error = parse_arguments(call.function.arguments)
            calls.append(ToolCall(id=f"call_{i}", name=call.function.name, arguments=args, error=error))
        return trimmed(ChatResult(text=message.content or "", tool_calls=calls, model=response.model or self.model),
                       self.decoding)
