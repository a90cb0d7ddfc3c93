"""OpenAI-compatible chat servers (OpenAI, llama.cpp server, vLLM, LM Studio) through the `openai` client."""

from __future__ import annotations

from typing import Any

import openai

from skills.providers.base import ChatResult, ProviderUnavailable, TokenSink, ToolCall, parse_arguments
from skills.providers.degenerate import Decoding, trimmed


class OpenAIProvider:
    """Chat through any server that speaks the OpenAI chat-completions API."""

    name = "openai"

    def __init__(self, model: str, base_url: str | None = None, api_key: str | None = None, timeout_s: float = 60.0,
                 decoding: Decoding | None = None, llamacpp: bool = False):
        self.decoding = decoding  # None: greedy and unpenalised, no loop guard (evaluation, judges)
        self.llamacpp = llamacpp  # the server is llama.cpp's: it also takes `repeat_penalty`/`repeat_last_n`
        self.model = model
        self.base_url = base_url
        self.extra_body: dict[str, Any] | None = None  # server-specific request fields (llama.cpp's `lora`)
        # Local servers need no key, but the client insists on one.
        self.client = openai.OpenAI(
            base_url=base_url, api_key=api_key or "not-needed", timeout=timeout_s, max_retries=0
        )

    def chat(
        self,
        messages: list[dict[str, Any]],
        *,
        tools: list[dict[str, Any]] | None = None,
        max_tokens: int | None = None,
        temperature: float = 0.0,
        on_token: TokenSink | None = None,
    ) -> ChatResult:
        """One chat completion; connection errors, timeouts and server errors become ProviderUnavailable.

        With `on_token` and no tools the answer is streamed (server-sent events, `stream: true`)."""
        kwargs: dict[str, Any] = {"model": self.model, "messages": messages, "temperature": temperature}
        if tools:
            kwargs["tools"] = tools
        if max_tokens:
            kwargs["max_tokens"] = max_tokens
        kwargs.update(self._penalties())
        if self.extra_body or self.llamacpp:
            kwargs["extra_body"] = {**self._llamacpp_penalties(), **(self.extra_body or {})}
        try:
            if on_token is not None and not tools:
                return self._streamed(kwargs, on_token)
            response = self.client.chat.completions.create(**kwargs)
        except openai.APITimeoutError:
            raise ProviderUnavailable(f"The model server at {self._where()} timed out; try again or raise llm.timeout_s.") from None
        except openai.APIConnectionError:
            raise ProviderUnavailable(f"Cannot reach the model server at {self._where()}; is it running?") from None
        except openai.APIStatusError as exc:
            raise ProviderUnavailable(
                f"The model server at {self._where()} answered HTTP {exc.status_code}; check llm.model and the API key."
            ) from None
        return self._result(response)

    def _streamed(self, kwargs: dict[str, Any], on_token: TokenSink) -> ChatResult:
        """The answer read chunk by chunk, each piece of text handed to `on_token` as it arrives."""
        pieces: list[str] = []
        model = self.model
        sink = self.decoding.guard(on_token) if self.decoding is not None else on_token
        with self.client.chat.completions.create(**kwargs, stream=True) as stream:
            for chunk in stream:
                model = chunk.model or model
                piece = chunk.choices[0].delta.content if chunk.choices else None
                if piece:
                    pieces.append(piece)
                    sink(piece)
                if getattr(sink, "stopped", False):
                    break  # a looping answer: leaving the block closes the stream, so the server stops writing
        return trimmed(ChatResult(text="".join(pieces), model=model), self.decoding)

    def _penalties(self) -> dict[str, Any]:
        """The OpenAI API's own repetition control and stop sequences, when this provider has any."""
        if self.decoding is None:
            return {}
        extra: dict[str, Any] = {"frequency_penalty": self.decoding.frequency_penalty,
                                 "presence_penalty": self.decoding.presence_penalty}
        if self.decoding.stop:
            extra["stop"] = list(self.decoding.stop)
        return extra

    def _llamacpp_penalties(self) -> dict[str, Any]:
        if self.decoding is None or not self.llamacpp:
            return {}
        return {"repeat_penalty": self.decoding.repetition_penalty, "repeat_last_n": self.decoding.repeat_last_n}

    def _where(self) -> str:
        return self.base_url or "api.openai.com"

    def _result(self, response: Any) -> ChatResult:
        if not response.choices:
            raise ProviderUnavailable(f"The model server at {self._where()} returned no answer.")
        message = response.choices[0].message
        calls = []
        for call in message.tool_calls or []:
            args, error = parse_arguments(call.function.arguments)
            calls.append(ToolCall(id=call.id or "", name=call.function.name, arguments=args, error=error))
        return trimmed(ChatResult(text=message.content or "", tool_calls=calls, model=response.model or self.model),
                       self.decoding)
