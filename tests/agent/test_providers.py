"""Providers against a scripted server on 127.0.0.1, the local tiny model, and the fallback chain."""

from __future__ import annotations

import pytest

from config.settings import LLMConfig
from skills.providers import FallbackProvider, ProviderUnavailable, get_provider
from skills.providers.local import LocalProvider
from skills.providers.ollama_provider import OllamaProvider
from skills.providers.openai_compat import OpenAIProvider

MESSAGES = [{"role": "user", "content": "hi"}]


def test_openai_text_and_tool_calls(scripted_llm):
    scripted_llm.enqueue(text="hello there")
    scripted_llm.enqueue(tool_calls=[("jobs.status", {"job": "pirate"})])
    provider = OpenAIProvider("scripted", base_url=scripted_llm.url + "/v1", timeout_s=5)
    assert provider.chat(MESSAGES).text == "hello there"
    result = provider.chat(MESSAGES, tools=[{"type": "function", "function": {"name": "jobs.status", "parameters": {}}}])
    assert [(c.name, c.arguments) for c in result.tool_calls] == [("jobs.status", {"job": "pirate"})]
    assert scripted_llm.requests[1]["tools"][0]["function"]["name"] == "jobs.status"


def test_openai_malformed_arguments_are_reported_not_raised(scripted_llm):
    scripted_llm.enqueue(tool_calls=[("jobs.status", '{"job": "pir')])
    call = OpenAIProvider("m", base_url=scripted_llm.url + "/v1", timeout_s=5).chat(MESSAGES).tool_calls[0]
    assert call.arguments == {} and "not valid JSON" in call.error


def test_openai_timeout_and_errors_become_unavailable(scripted_llm):
    scripted_llm.enqueue(text="late", delay=1.0)
    scripted_llm.enqueue(status=500)
    provider = OpenAIProvider("m", base_url=scripted_llm.url + "/v1", timeout_s=0.3)
    with pytest.raises(ProviderUnavailable, match="timed out"):
        provider.chat(MESSAGES)
    with pytest.raises(ProviderUnavailable, match="HTTP 500"):
        provider.chat(MESSAGES)


def test_unreachable_server_is_unavailable():
    with pytest.raises(ProviderUnavailable, match="Cannot reach"):
        OpenAIProvider("m", base_url="http://127.0.0.1:9/v1", timeout_s=2).chat(MESSAGES)
    with pytest.raises(ProviderUnavailable, match="Cannot reach Ollama"):
        OllamaProvider("m", host="http://127.0.0.1:9", timeout_s=2).chat(MESSAGES)


def test_ollama_text_and_tool_calls(scripted_llm):
    scripted_llm.enqueue(text="ahoy")
    scripted_llm.enqueue(tool_calls=[("jobs.cancel", {"job": "1"})])
    provider = OllamaProvider("scripted", host=scripted_llm.url, timeout_s=5)
    assert provider.chat(MESSAGES).text == "ahoy"
    assert provider.chat(MESSAGES).tool_calls[0].arguments == {"job": "1"}


def test_fallback_uses_next_provider(scripted_llm):
    scripted_llm.enqueue(text="from backup")
    chain = FallbackProvider([
        OpenAIProvider("m", base_url="http://127.0.0.1:9/v1", timeout_s=2),
        OpenAIProvider("m", base_url=scripted_llm.url + "/v1", timeout_s=5),
    ])
    assert chain.chat(MESSAGES).text == "from backup"


def test_get_provider_builds_configured_chain(settings, scripted_llm):
    s = settings.model_copy(update={"llm": LLMConfig(provider="openai", base_url=scripted_llm.url + "/v1",
                                                     model="m", fallback=["local"])})
    provider = get_provider(s)
    assert isinstance(provider, FallbackProvider)
    assert isinstance(provider.providers[1], LocalProvider) and provider.providers[1].model_name == "tiny"
    assert isinstance(get_provider(s, role="judge"), LocalProvider)


def test_local_tiny_model_generates(settings, tiny_model_dir):
    provider = LocalProvider("tiny", settings.models_dir, max_new_tokens=5)
    result = provider.chat(MESSAGES, tools=[{"type": "function", "function": {"name": "x", "parameters": {}}}])
    assert isinstance(result.text, str) and result.model == "tiny"
