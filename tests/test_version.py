"""`selftune --version` answers with the installed distribution's version and nothing else."""

from __future__ import annotations

from importlib import metadata

from typer.testing import CliRunner

from agent.cli.main import app


def test_version_prints_the_installed_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"selftune {metadata.version('selftune')}"
