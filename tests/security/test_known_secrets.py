"""The secrets selftune was given are scrubbed by value: the OpenAI key pasted into chat (and echoed back by the
model) is in no file of the state dir afterwards: not selftune.db, not the Chroma files, not the logs, not a
harvest file. The key has no known token shape, so only its value can give it away.

Everything is real: the Router with the memory hooks, SQLite, Chroma, the harvest writer and the log file;
the chat model is the scripted OpenAI-compatible server on 127.0.0.1, called with that very key.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from agent.memory_hooks import router_with_memory
from config.logging import setup_logging
from config.messages import IncomingMessage
from config.scrub import scrub, scrub_secrets
from config.settings import Settings
from config.state import ensure_state_dir
from skills.dataset.harvest import harvest_channel

KEY = "local-Chat-Server-Key-73c1f0e9b2"  # matches no secret pattern: a self-hosted server's own key


@pytest.fixture
def keyed(home: Path, scripted_llm, monkeypatch: pytest.MonkeyPatch) -> Settings:  # noqa: F811
    """Settings whose chat model is the scripted server, reached with KEY from the environment, as in real use."""
    monkeypatch.setenv("SELFTUNE_OPENAI_API_KEY", KEY)
    settings = Settings(home=home, base_model="tiny", llm={"provider": "openai", "model": "scripted",
                                                           "base_url": scripted_llm.url + "/v1", "timeout_s": 5})
    ensure_state_dir(settings)
    return settings


def _files_holding(home: Path, needle: str) -> list[str]:
    found = []
    for path in home.rglob("*"):
        if path.is_file() and not path.is_relative_to(home / "models") and needle.encode() in path.read_bytes():
            found.append(str(path.relative_to(home)))
    return found


def test_the_configured_key_pasted_in_chat_is_stored_and_logged_nowhere(keyed: Settings, scripted_llm) -> None:
    setup_logging(keyed)
    router, hooks = router_with_memory(keyed)
    hooks.memory.set_consent("general", True, "discord:admin")
    scripted_llm.enqueue(text=f"Got it, your key {KEY} is safe with me.")

    reply = router.handle(IncomingMessage(transport="discord", channel="general", user="discord:alice",
                                          text=f"my server key is {KEY}, remember it for me"))
    logging.getLogger("agent.router").warning("the request said %s", KEY)
    hooks.memory.sync()  # into the Chroma index
    harvested = harvest_channel(hooks.memory, "general")
    hooks.memory.close()
    router.store.close()
    logging.shutdown()

    assert reply.ok and scripted_llm.requests  # the model was asked, with the key as its bearer token
    assert harvested.rows == 1 and "[SECRET]" in harvested.path.read_text()
    assert (keyed.home / "logs" / "selftune.log").read_text().count("the request said ***") == 1
    assert list((keyed.home / "chroma").rglob("*.sqlite3"))  # the index was written, and holds no key
    assert _files_holding(keyed.home, KEY) == []


def test_a_remembered_secret_is_scrubbed_wherever_it_appears_in_text(keyed: Settings) -> None:
    from config.state import connect

    connect(keyed).close()  # opening selftune.db remembers the configured secrets
    assert scrub(f"a{KEY}b and {KEY}") == "a[SECRET]b and [SECRET]"
    assert scrub_secrets(f"mail me at x@y.org, key {KEY}") == "mail me at x@y.org, key [SECRET]"
