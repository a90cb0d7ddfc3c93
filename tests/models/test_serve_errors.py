"""`selftune serve` refuses what it cannot serve in one sentence, before any server starts."""

from __future__ import annotations

from typer.testing import CliRunner

from agent.cli.main import app
from config.settings import Settings


def test_serve_unknown_persona_is_one_sentence(settings: Settings) -> None:
    result = CliRunner().invoke(app, ["serve", "--persona", "ghost", "--port", "9"])
    assert result.exit_code == 1
    assert "There is no persona 'ghost'" in result.output
    assert "Traceback" not in result.output
