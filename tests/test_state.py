"""Broken state as users meet it: a damaged or unwritable selftune.db or state dir is one sentence, never a
traceback; doctor finds it and --repair brings back a working state; our own bugs get an error id."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from agent.cli.common import SelftuneGroup, emit_json
from agent.cli.main import app
from config.settings import Settings
from config.state import SCHEMA_VERSION, StateError, backup_path, connect, repair_database
from skills.jobs.store import JobStore

runner = CliRunner()
JOBS = 60


def selftune(home: Path, *args: str) -> subprocess.CompletedProcess:
    """Run the real `selftune` command in a fresh process on this state dir."""
    env = {**os.environ, "SELFTUNE_HOME": str(home), "SELFTUNE_LLM__MODEL": "tiny", "COLUMNS": "400"}
    return subprocess.run([sys.executable, "-m", "agent.cli.main", *args], capture_output=True, text=True,
                           env=env, timeout=180)


def fill(settings: Settings) -> None:
    """Some jobs, so selftune.db spans many pages."""
    store = JobStore(settings)
    for i in range(JOBS):
        store.create({"name": f"job{i}", "persona": "pirate", "note": "x" * 300}, executor="local", worker=["w"])
    store.close()
    checkpoint(settings.db_path)


def checkpoint(db: Path) -> None:
    """Fold the WAL into the main file, as a process exit does, so damage to the file is damage to the data."""
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def jobs_count(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT count(*) FROM jobs").fetchone()[0]
    finally:
        conn.close()


def one_line(text: str) -> str:
    """Output with rich's panel borders and line wraps removed."""
    return " ".join(part.strip(" │╭╮╰╯─") for part in text.splitlines()).replace("  ", " ")


@pytest.fixture
def truncated(settings: Settings) -> Settings:
    """The probe: a state dir whose selftune.db was cut to 10,000 bytes (`truncate -s 10000 selftune.db`)."""
    fill(settings)
    assert settings.db_path.stat().st_size > 20_000
    os.truncate(settings.db_path, 10_000)
    return settings


@pytest.mark.parametrize("command", [["jobs", "list"], ["memory", "reindex"], ["chat", "hello there"]])
def test_truncated_database_is_one_sentence_for_every_command(truncated: Settings, command: list[str]) -> None:
    proc = selftune(truncated.home, *command)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert "Traceback" not in output and "disk image is malformed" in output
    assert str(truncated.db_path) in one_line(output) and "selftune doctor --repair" in one_line(output)


def test_json_failure_is_one_document_on_stdout(truncated: Settings) -> None:
    result = runner.invoke(app, ["jobs", "list", "--json"])
    doc = json.loads(result.stdout)
    assert result.exit_code == 1 and doc["ok"] is False and doc["exit_code"] == 1
    assert str(truncated.db_path) in doc["error"] and "doctor --repair" in doc["error"]


def test_damage_found_only_by_a_query_is_the_same_sentence(settings: Settings) -> None:
    """The file opens (its first pages are fine) but the jobs table is garbage: found when `jobs list` reads it."""
    fill(settings)
    size = settings.db_path.stat().st_size
    with settings.db_path.open("r+b") as f:
        f.seek(4096 * 5)
        f.write(b"\xab" * (size - 4096 * 5))
    result = runner.invoke(app, ["jobs", "list", "--json"])
    doc = json.loads(result.stdout)
    assert result.exit_code == 1 and "is damaged" in doc["error"] and str(settings.db_path) in doc["error"]


def test_doctor_finds_the_damage_and_repair_restores_the_backup(settings: Settings) -> None:
    fill(settings)
    conn = sqlite3.connect(settings.db_path)  # a file written before schema versions: the next open backs it up
    conn.execute("PRAGMA user_version = 0")
    conn.close()
    connect(settings).close()
    assert jobs_count(backup_path(settings)) == JOBS
    checkpoint(settings.db_path)
    os.truncate(settings.db_path, 10_000)

    doc = json.loads(runner.invoke(app, ["doctor", "--json"]).stdout)
    database = next(c for c in doc["checks"] if c["name"] == "database")
    assert doc["ok"] is False and database["ok"] is False and "malformed" in database["detail"]
    assert "selftune.db.bak" in database["fix"]

    result = runner.invoke(app, ["doctor", "--repair", "--json"])
    doc = json.loads(result.stdout)
    assert "restored the backup" in doc["repair"] and "rebuilt the recall index" in doc["repair"]
    assert next(c for c in doc["checks"] if c["name"] == "database")["ok"] is True
    assert len(list(settings.home.glob("selftune.db.damaged-*"))) >= 1
    listed = runner.invoke(app, ["jobs", "list", "--json"])
    assert listed.exit_code == 0 and len(json.loads(listed.stdout)["jobs"]) == 20  # the default page
    assert jobs_count(settings.db_path) == JOBS


def test_repair_without_a_backup_starts_fresh(truncated: Settings) -> None:
    sentence, changed = repair_database(truncated)
    assert changed and "started a fresh, empty one (there was no backup)" in sentence
    aside = [p for p in truncated.home.glob("selftune.db.damaged-*") if not p.name.endswith(("-wal", "-shm"))]
    assert len(aside) == 1 and aside[0].stat().st_size == 10_000  # kept, untouched, for whoever wants to dig
    store = JobStore(truncated)
    assert store.list() == []
    store.close()
    assert repair_database(truncated) == (f"{truncated.db_path} passes the integrity check; nothing to repair.", False)


def test_backup_is_taken_only_when_the_schema_version_changes(settings: Settings) -> None:
    connect(settings).close()
    assert not backup_path(settings).exists()  # a new, empty file has nothing to back up
    fill(settings)
    conn = sqlite3.connect(settings.db_path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.execute("PRAGMA user_version = 0")
    conn.close()
    connect(settings).close()
    assert jobs_count(backup_path(settings)) == JOBS
    backup_path(settings).unlink()
    connect(settings).close()
    assert not backup_path(settings).exists()  # same version: no copy on every open


def test_a_damaged_file_never_replaces_the_last_good_backup(settings: Settings) -> None:
    fill(settings)
    conn = sqlite3.connect(settings.db_path)
    conn.execute("PRAGMA user_version = 0")
    conn.close()
    connect(settings).close()  # the good copy
    good = backup_path(settings).read_bytes()
    conn = sqlite3.connect(settings.db_path)
    conn.execute("PRAGMA user_version = 0")  # a schema change is due again...
    conn.close()
    checkpoint(settings.db_path)
    size = settings.db_path.stat().st_size
    with settings.db_path.open("r+b") as f:  # ...but the file has been damaged since
        f.seek(4096 * 5)
        f.write(b"\xab" * (size - 4096 * 5))
    with pytest.raises(StateError, match="is damaged"):
        connect(settings)
    assert backup_path(settings).read_bytes() == good


def test_state_dir_where_a_file_is_is_one_sentence(settings: Settings, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    proc = selftune(blocker / "home", "jobs", "list")
    output = one_line(proc.stdout + proc.stderr)
    assert proc.returncode == 1 and "Traceback" not in output
    assert f"cannot write its state directory {blocker / 'home'}" in output and "SELFTUNE_HOME" in output


def test_database_that_cannot_be_opened_is_one_sentence(settings: Settings) -> None:
    settings.db_path.mkdir()  # selftune.db is a folder: SQLite cannot open it
    result = runner.invoke(app, ["jobs", "list", "--json"])
    doc = json.loads(result.stdout)
    assert result.exit_code == 1 and f"cannot open or write its database {settings.db_path}" in doc["error"]
    doctor = json.loads(runner.invoke(app, ["doctor", "--json"]).stdout)
    database = next(c for c in doctor["checks"] if c["name"] == "database")
    assert database["ok"] is False and "cannot be opened" in database["detail"]  # not "damaged": no repair offered


def _read_only_run(home: Path, *args: str) -> subprocess.CompletedProcess | None:
    """Run selftune on `home` made read-only: by mode bits, or (root ignores those) by a read-only bind mount
    in a private mount namespace; None when neither is possible here."""
    command = [sys.executable, "-m", "agent.cli.main", *args]
    env = {**os.environ, "SELFTUNE_HOME": str(home), "COLUMNS": "400"}
    if os.geteuid() != 0:
        paths = [home, *home.rglob("*")]
        for path in paths:
            path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            return subprocess.run(command, capture_output=True, text=True, env=env, timeout=180)
        finally:
            for path in paths:
                path.chmod(0o755 if path.is_dir() else 0o644)
    if shutil.which("unshare") is None:
        return None
    mount = f"mount --bind {home} {home} && mount -o remount,bind,ro {home} && exec \"$@\""
    proc = subprocess.run(["unshare", "-m", "sh", "-c", mount, "sh", *command], capture_output=True, text=True,
                          env=env, timeout=180)
    return None if "mount:" in proc.stderr or "unshare:" in proc.stderr else proc


def test_read_only_state_dir_is_one_sentence(settings: Settings) -> None:
    fill(settings)
    proc = _read_only_run(settings.home, "jobs", "list", "--json")
    if proc is None:
        pytest.skip("running as root without mount namespaces: nothing here can make the state dir read-only")
    doc = json.loads(proc.stdout)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr and doc["ok"] is False
    assert f"cannot write its state directory {settings.home}" in doc["error"]
    assert "Read-only file system" in doc["error"] or "Permission denied" in doc["error"]


def test_unwritable_output_path_is_one_sentence(settings: Settings, tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"instruction": "q", "output": "a"}) + "\n")
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = runner.invoke(app, ["dataset", "convert", str(src), str(blocker / "out.jsonl"), "--to", "messages",
                                 "--json"])
    doc = json.loads(result.stdout)
    assert result.exit_code == 1 and doc["ok"] is False
    assert str(blocker) in doc["error"] and "check the path" in doc["error"]


def _buggy_app() -> typer.Typer:
    """A command with a bug in it, under the same top-level handling as every selftune command."""
    buggy = typer.Typer(cls=SelftuneGroup, pretty_exceptions_enable=False)

    @buggy.callback()
    def root() -> None:
        """Group."""

    @buggy.command()
    def crash(as_json: bool = typer.Option(False, "--json")) -> None:
        """Fails like our own bug would."""
        raise KeyError("the-missing-key")

    @buggy.command()
    def fine(as_json: bool = typer.Option(False, "--json")) -> None:
        """Works."""
        emit_json({"ok": True})

    return buggy


def test_our_own_bug_is_one_sentence_with_an_error_id_and_the_traceback_in_the_log(settings: Settings) -> None:
    buggy = _buggy_app()
    result = runner.invoke(buggy, ["crash"])
    assert result.exit_code == 1 and "Traceback" not in result.output and "error id" in result.output
    error_id = one_line(result.output).split("error id ")[1][:8]
    log_text = (settings.home / "logs" / "selftune.log").read_text()
    assert error_id in log_text and "Traceback" in log_text and "the-missing-key" in log_text

    started = time.monotonic()
    as_json = runner.invoke(buggy, ["crash", "--json"])
    doc = json.loads(as_json.stdout)
    assert as_json.exit_code == 1 and doc["ok"] is False and doc["exit_code"] == 1 and "error id" in doc["error"]
    assert time.monotonic() - started < 30
    assert json.loads(runner.invoke(buggy, ["fine", "--json"]).stdout) == {"ok": True}
