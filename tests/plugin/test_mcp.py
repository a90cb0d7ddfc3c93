"""An MCP client from the official SDK talks to `selftune mcp` over stdio and streamable HTTP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from config.settings import Settings

pytestmark = pytest.mark.timeout(120)


def server_env(settings: Settings, **extra: str) -> dict[str, str]:
    return {**os.environ, "SELFTUNE_HOME": str(settings.home), "SELFTUNE_BASE_MODEL": "tiny", **extra}


def stdio_params(settings: Settings, **extra: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable, args=["-m", "agent.cli.main", "mcp"], env=server_env(settings, **extra),
        cwd=str(Path(__file__).resolve().parents[2]),
    )


def payload(result) -> dict:  # noqa: ANN001
    return json.loads(result.content[0].text)


async def test_stdio_lists_and_calls_tools(settings: Settings) -> None:
    async with Client(stdio_params(settings)) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert {"text_word_count", "voice_transcribe", "jobs_wait"} <= set(tools)
        assert tools["text_word_count"].input_schema["properties"]["text"]["type"] == "string"
        result = await client.call_tool("text_word_count", {"text": "yo ho ho"})
        assert not result.is_error and payload(result) == {"words": 3, "characters": 8}
        bad = await client.call_tool("text_word_count", {})
        assert bad.is_error and "'text'" in bad.content[0].text


async def test_permission_level_of_mcp_clients(settings: Settings) -> None:
    """A read-only MCP identity is refused train-level skills; admin skills stay hidden unless enabled."""
    async with Client(stdio_params(settings, SELFTUNE_MCP__CLIENT_PERMISSION="read")) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        admin = {n for n in names if n.startswith(("improve_run", "schedule_add", "memory_collect", "adapters_"))}
        assert not admin
        refused = await client.call_tool("improve_run", {})
        text = refused.content[0].text
        assert refused.is_error and ("admin" in text.lower() or "no tool" in text)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def http_server(settings: Settings):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent.cli.main", "mcp", "--http", "--port", str(port)],
        env=server_env(settings), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            time.sleep(0.2)
    yield f"http://127.0.0.1:{port}/mcp"
    proc.terminate()
    proc.wait(timeout=10)


async def test_http_transport(http_server: str) -> None:
    async with Client(http_server) as client:
        result = await client.call_tool("text_word_count", {"text": "one two"})
        assert payload(result) == {"words": 2, "characters": 7}
