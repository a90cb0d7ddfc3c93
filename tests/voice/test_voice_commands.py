"""A spoken command does exactly what the same typed text would: same router, same intent."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from agent.cli.main import app
from agent.router import Router
from config.messages import Attachment, IncomingMessage
from config.settings import Settings
from tests.voice.conftest import COMMANDS

runner = CliRunner()


def typed_intent(text: str) -> str:
    result = runner.invoke(app, ["chat", text, "--json", "--no-memory"])
    return json.loads(result.stdout)["intent"]


def test_spoken_commands_resolve_like_typed(settings: Settings, clips: dict[str, Path]) -> None:
    for intent, text in COMMANDS.items():
        result = runner.invoke(app, ["chat", "--audio", str(clips[f"{intent}.ogg"]), "--json", "--no-memory"])
        assert result.exit_code in (0, 1), result.output
        doc = json.loads(result.stdout)
        assert doc["intent"] == intent == typed_intent(text), doc
        assert doc["transcript"] and doc["reply"].startswith("Heard:")


def test_router_transcribes_voice_notes_and_reports_bad_audio(settings: Settings, tmp_path: Path) -> None:
    router = Router(settings)
    empty = tmp_path / "voice-message.ogg"
    empty.write_bytes(b"")
    reply = router.handle(IncomingMessage(attachments=[Attachment(filename=empty.name, path=empty)]))
    assert reply.intent == "error" and "is empty" in reply.text
