"""The probes that failed, replayed by a real MCP client over stdio against `selftune mcp` (no token)."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp import Client

from config.settings import Settings
from tests.plugin.test_mcp import payload, stdio_params
from tests.security.conftest import VICTIM_TEXT, files_under

pytestmark = pytest.mark.timeout(120)
PASSWD_FIRST_LINE = Path("/etc/passwd").read_text().splitlines()[0]


async def test_mcp_client_cannot_read_or_write_outside_selftune(settings: Settings, datasets: Path,
                                                                outside: Path) -> None:
    before = files_under(settings.home.parent, skip=settings.home)
    async with Client(stdio_params(settings)) as client:
        refused = {
            "convert over a file outside": await client.call_tool(
                "dataset_convert", {"path": "good.jsonl", "output": str(outside / "victim.txt")}),
            "convert up and out": await client.call_tool(
                "dataset_convert", {"path": "good.jsonl", "output": "../../../outside/victim.txt"}),
            "convert through a link": await client.call_tool(
                "dataset_convert", {"path": "good.jsonl", "output": "linkdir/victim.txt"}),
            "validate /etc/passwd": await client.call_tool("dataset_validate", {"path": "/etc/passwd"}),
            "validate a link out": await client.call_tool("dataset_validate", {"path": "link.jsonl"}),
            "train a ../ persona": await client.call_tool(
                "train_submit", {"persona": "../../..", "dataset": "good.jsonl", "max_steps": 1}),
            "train on a file outside": await client.call_tool(
                "train_submit", {"persona": "pirate", "dataset": str(outside / "secret.jsonl"), "max_steps": 1}),
            "transcribe /etc/passwd": await client.call_tool("voice_transcribe", {"path": "/etc/passwd"}),
            "transcribe an outside file": await client.call_tool("voice_transcribe", {"path": str(outside / "victim.txt")}),
            "transcribe a missing outside file": await client.call_tool(
                "voice_transcribe", {"path": str(outside / "missing.ogg")}),
        }
        allowed = await client.call_tool("dataset_convert", {"path": "good.jsonl", "output": "copy.jsonl"})
    for probe, result in refused.items():
        text = result.content[0].text
        assert result.is_error, probe
        assert "outside selftune's folders" in text or "not a valid persona name" in text, (probe, text)
        assert PASSWD_FIRST_LINE not in text and "Ahoy" not in text and "Traceback" not in text, probe
    transcribed = [refused[p].content[0].text for p in ("transcribe an outside file", "transcribe a missing outside file")]
    assert all(t.startswith("Argument 'path' (") for t in transcribed)  # refused as outside, existing or not
    assert transcribed[0].split("is outside")[1] == transcribed[1].split("is outside")[1]
    assert not allowed.is_error and Path(payload(allowed)["path"]) == (datasets / "copy.jsonl").resolve()
    assert (outside / "victim.txt").read_text() == VICTIM_TEXT
    assert files_under(settings.home.parent, skip=settings.home) == before
    assert not (settings.artifacts_dir / "adapters").exists()
