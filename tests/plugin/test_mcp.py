"""An MCP client from the official SDK talks to `selftune mcp` over stdio and streamable HTTP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

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


async def test_tools_carry_their_declared_effects_as_hints(settings: Settings) -> None:
    async with Client(stdio_params(settings)) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert tools["memory_forget"].annotations.destructive_hint is True
    assert tools["jobs_status"].annotations.read_only_hint is True
    assert tools["train_submit"].annotations.read_only_hint is False


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


TOKEN = "test-token-4f9c2a"
INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                         "clientInfo": {"name": "probe", "version": "0"}}}


@pytest.fixture
def http_server(settings: Settings):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent.cli.main", "mcp", "--http", "--port", str(port)],
        env=server_env(settings, SELFTUNE_MCP_TOKEN=TOKEN), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
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


def with_token(url: str, token: str = TOKEN):  # noqa: ANN201 - an MCP transport
    """The SDK's HTTP transport sending `Authorization: Bearer <token>` on every request."""
    return streamable_http_client(url, http_client=httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}))


async def test_http_transport(http_server: str) -> None:
    async with Client(with_token(http_server)) as client:
        result = await client.call_tool("text_word_count", {"text": "one two"})
        assert payload(result) == {"words": 2, "characters": 7}


def test_http_refuses_requests_without_the_right_token(http_server: str) -> None:
    """Every request is checked: no token, a wrong one or another scheme gets 401 before any MCP handling."""
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    for auth in (None, "Bearer wrong-token", f"Bearer {TOKEN}x", f"Basic {TOKEN}"):
        sent = {**headers, **({"Authorization": auth} if auth else {})}
        response = httpx2.post(http_server, json=INITIALIZE, headers=sent, timeout=10)
        assert response.status_code == 401, (auth, response.status_code)
    good = httpx2.post(http_server, json=INITIALIZE, headers={**headers, "Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert good.status_code == 200 and "selftune" in good.text


async def test_http_client_with_a_wrong_token_gets_nothing(http_server: str) -> None:
    with pytest.raises(Exception):  # noqa: B017 - the SDK raises its own error for a 401
        async with Client(with_token(http_server, "wrong-token")) as client:
            await client.list_tools()


def test_http_without_a_configured_token_refuses_to_start(settings: Settings) -> None:
    proc = subprocess.run([sys.executable, "-m", "agent.cli.main", "mcp", "--http", "--port", str(free_port())],
                          env=server_env(settings), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "SELFTUNE_MCP_TOKEN" in proc.stderr and "Traceback" not in proc.stderr


def test_admin_tools_hidden_and_refused(settings: Settings) -> None:
    """Admin skills (schedules, rollback, improve.run) exist but are off for MCP clients by default."""
    async def run() -> tuple[set[str], object]:
        async with Client(stdio_params(settings)) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            return names, await client.call_tool("schedule_add", {"persona": "pirate"})

    names, refused = anyio.run(run)
    assert "schedule_list" in names and "schedule_add" not in names and "adapters_rollback" not in names
    assert refused.is_error and "admin skill" in refused.content[0].text


@pytest.mark.slow
async def test_training_job_with_progress_and_same_json_as_cli(settings: Settings, tmp_path: Path) -> None:
    """Validate a real file (same JSON as the CLI), start a tiny training job, follow its progress to the end,
    then read its log as an MCP resource."""
    rows = [{"messages": [{"role": "user", "content": f"Say hi {i}"}, {"role": "assistant", "content": "Arr, hi matey!"}]}
            for i in range(24)]
    data = settings.artifacts_dir / "datasets" / "pirate.jsonl"  # MCP clients read only selftune's datasets folders
    data.parent.mkdir(parents=True, exist_ok=True)
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cli = subprocess.run([sys.executable, "-m", "agent.cli.main", "dataset", "validate", str(data), "--json"],
                         capture_output=True, text=True, env=server_env(settings), timeout=120)
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, total, message))

    async with Client(stdio_params(settings)) as client:
        validated = await client.call_tool("dataset_validate", {"path": str(data)})
        assert payload(validated) == json.loads(cli.stdout)
        started = payload(await client.call_tool("train_submit", {"dataset": str(data), "max_steps": 6}))
        final = await client.call_tool("jobs_wait", {"job_id": started["job_id"], "timeout_s": 240},
                                       progress_callback=on_progress)
        assert payload(final)["state"] == "succeeded", final.content[0].text
        assert progress and progress[-1][0] == 6 and progress[-1][1] == 6
        resources = [str(r.uri) for r in (await client.list_resources()).resources]
        log_uri = f"selftune://jobs/{started['job_id']}/log"
        assert log_uri in resources
        log = await client.read_resource(log_uri)
        assert "adapter_dir:" in log.contents[0].text


async def test_eval_reports_are_resources(settings: Settings) -> None:
    folder = settings.artifacts_dir / "reports" / "pirate-v1-20261125"
    folder.mkdir(parents=True)
    (folder / "report.md").write_text("# pirate-lora/v1\nheld-out loss 1.5 → 1.3\n")
    (folder / "report.png").write_bytes(b"\x89PNG")
    async with Client(stdio_params(settings)) as client:
        uris = [str(r.uri) for r in (await client.list_resources()).resources]
        assert "selftune://reports/pirate-v1-20261125/report.md" in uris
        assert not any(u.endswith(".png") for u in uris)
        report = await client.read_resource("selftune://reports/pirate-v1-20261125/report.md")
        assert "held-out loss" in report.contents[0].text
        with pytest.raises(Exception, match="No report"):
            await client.read_resource("selftune://reports/../../selftune.db")
