"""`selftune backup` / `restore`: a wiped state dir comes back whole; checksums catch damage; nightly retention."""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from agent.cli.main import app
from config.settings import Settings
from config.workspace import open_workspace
from memory.log import LoggedMessage
from memory.store import Memory
from skills.backup import SCHEDULE_ID, install_backup_schedule
from skills.jobs.store import JobStore
from skills.scheduler import SchedulerService, add_retrain, list_schedules, schedule_store
from skills.train.adapters import list_adapters, promote, served_map
from tests.conftest import MODEL_CACHE

runner = CliRunner()
ADAPTER = "pirate-lora/v1"


def _lived_in(settings: Settings) -> None:
    """A state dir with conversations, a job, schedules, a served adapter, a dataset and holdout data."""
    ws = open_workspace(settings)
    memory = Memory(settings, index_on_log=False)
    memory.log_many([LoggedMessage(text=f"message {i} about the sea", channel="general", author="alice")
                     for i in range(3)])
    memory.close()
    store = JobStore(settings)
    store.create({"name": "pirate-lora", "method": "lora"}, executor="local", worker=["python"])
    store.close()
    add_retrain(settings, "pirate", at="02:00")
    install_backup_schedule(settings)
    folder = settings.artifacts_dir / "adapters" / ADAPTER
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({"base_model": "tiny", "method": "lora", "persona": "pirate"}))
    (folder / "adapter_model.safetensors").write_bytes(b"\x00weights" * 1000)
    promote(settings, "pirate", ADAPTER)
    datasets = settings.artifacts_dir / "datasets"
    datasets.mkdir(parents=True, exist_ok=True)
    (datasets / "pirate.jsonl").write_text('{"messages": [{"role": "user", "content": "ahoy"}]}\n')
    (settings.holdout_dir / "pirate.jsonl").write_text('{"prompt": "hidden"}\n')
    ws.write("personas/notes.md", "a later workspace change\n")
    ws.commit("workspace: a note")


def _snapshot(settings: Settings) -> dict[str, Any]:
    """What a user would miss if the restore lost it."""
    conn = sqlite3.connect(settings.db_path)
    try:
        messages = conn.execute("SELECT id, author, channel, text FROM messages ORDER BY seq").fetchall()
        jobs = conn.execute("SELECT id, name, state, spec FROM jobs").fetchall()
    finally:
        conn.close()
    repo = open_workspace(settings).repo
    return {
        "messages": messages, "jobs": jobs,
        "schedules": [(s.id, s.name, s.trigger, s.paused) for s in list_schedules(settings)],
        "served": served_map(settings), "adapters": [a.id for a in list_adapters(settings)],
        "history": [c.hexsha for c in repo.iter_commits("--all")], "branch": repo.active_branch.name,
        "dataset": (settings.artifacts_dir / "datasets" / "pirate.jsonl").read_text(),
        "holdout": (settings.holdout_dir / "pirate.jsonl").read_text(),
    }


def _wipe(home: Path) -> None:
    """The disk is gone: an empty state dir (its models/ link to the shared cache as the fixture makes it)."""
    shutil.rmtree(home)
    home.mkdir()
    (home / "models").symlink_to(MODEL_CACHE, target_is_directory=True)


def _said(result: Any) -> str:
    """The command's output with rich's line wrapping undone."""
    return " ".join(result.output.split())


def _refusal(args: list[str]) -> tuple[int, str]:
    """Exit code and sentence of a command that fails (its --json error document)."""
    result = runner.invoke(app, [*args, "--json"])
    return result.exit_code, json.loads(result.stdout)["error"]


def _backup(to: Path) -> dict[str, Any]:
    result = runner.invoke(app, ["backup", "--to", str(to), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_backup_wipe_restore_gives_the_same_state(settings: Settings, tmp_path: Path) -> None:
    _lived_in(settings)
    before = _snapshot(settings)
    written = _backup(tmp_path / "bk")
    files = json.loads((tmp_path / "bk" / "manifest.json").read_text())["files"]
    assert written["linked"] == 1 and f"artifacts/adapters/{ADAPTER}/adapter_model.safetensors" in files
    assert not any(name.startswith(("chroma", "models", "logs")) for name in files)  # rebuildable, left out
    verified = runner.invoke(app, ["backup", "--verify", str(tmp_path / "bk")])
    assert verified.exit_code == 0 and "is intact" in _said(verified)

    _wipe(settings.home)
    restored = runner.invoke(app, ["restore", str(tmp_path / "bk")])

    assert restored.exit_code == 0, restored.output
    assert "Restored" in _said(restored)
    assert _snapshot(settings) == before
    code, sentence = _refusal(["restore", str(tmp_path / "bk")])
    assert code == 2 and f"{settings.home} is not empty (it holds " in sentence


def test_restore_into_another_state_dir_moves_its_schedules(settings: Settings, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    _lived_in(settings)
    _backup(tmp_path / "bk")
    other = tmp_path / "other-home"
    monkeypatch.setenv("SELFTUNE_HOME", str(other))
    done = json.loads(runner.invoke(app, ["restore", str(tmp_path / "bk"), "--json"]).stdout)
    assert done["schedules_moved"] == 2  # the retrain and the backup now run on the restored state dir
    with schedule_store(Settings(home=other)) as scheduler:
        assert {job.kwargs["home"] for job in scheduler.get_jobs()} == {str(other)}


def test_a_damaged_or_missing_file_fails_verification(settings: Settings, tmp_path: Path) -> None:
    _lived_in(settings)
    _backup(tmp_path / "bk")
    dataset = tmp_path / "bk" / "artifacts" / "datasets" / "pirate.jsonl"
    dataset.write_text(dataset.read_text().replace("ahoy", "ahoj"))  # same size, other bytes
    (tmp_path / "bk" / "holdout" / "pirate.jsonl").unlink()

    checked = runner.invoke(app, ["backup", "--verify", str(tmp_path / "bk"), "--json"])

    assert checked.exit_code == 1
    report = json.loads(checked.stdout)
    assert report["problems"] == ["artifacts/datasets/pirate.jsonl is damaged (its checksum differs)",
                                  "holdout/pirate.jsonl is missing"]
    _wipe(settings.home)
    code, sentence = _refusal(["restore", str(tmp_path / "bk")])
    assert code == 2 and sentence.startswith(f"The backup {tmp_path / 'bk'} fails verification: artifacts/datasets")
    assert not settings.db_path.exists()  # nothing was restored from a damaged backup


def test_backup_refuses_a_folder_that_holds_files(settings: Settings, tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x.txt").write_text("mine")
    code, sentence = _refusal(["backup", "--to", str(tmp_path / "full")])
    assert code == 2 and "not an empty folder" in sentence
    assert (tmp_path / "full" / "x.txt").read_text() == "mine"


def _dated(backups: Path) -> list[str]:
    return sorted(p.name for p in backups.iterdir() if p.name[:1].isdigit())


async def test_the_nightly_backup_fires_and_keeps_only_backup_keep(settings: Settings, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    backups = tmp_path / "backups"
    monkeypatch.setenv("SELFTUNE_BACKUP__DIR", str(backups))
    monkeypatch.setenv("SELFTUNE_BACKUP__KEEP", "2")
    settings = settings.model_copy(update={"backup": settings.backup.model_copy(update={"keep": 2, "dir": backups})})
    _lived_in(settings)
    _backup(backups / "20200101-000000")
    for older in ("20200102-000000", "20200103-000000"):
        shutil.copytree(backups / "20200101-000000", backups / older)
    (backups / "my-notes").mkdir()  # not a backup: never pruned
    with schedule_store(settings) as scheduler:
        scheduler.modify_job(SCHEDULE_ID, next_run_time=datetime.now(UTC))  # due now, as at 01:30

    outcomes: list = []
    service = SchedulerService(settings, notify=outcomes.append)
    service.start()
    try:
        for _ in range(100):  # up to 10 s for the job's thread to back up and prune
            await asyncio.sleep(0.1)
            if _dated(backups) and _dated(backups)[-1] > "2021" and len(_dated(backups)) == 2:
                break
    finally:
        service.shutdown()

    names = sorted(p.name for p in backups.iterdir())
    assert names[0] == "20200103-000000" and names[-1] == "my-notes" and len(names) == 3, names
    newest = backups / names[1]
    assert runner.invoke(app, ["backup", "--verify", str(newest)]).exit_code == 0
    assert outcomes == []  # a backup that worked is logged, not announced


def test_selftune_run_turns_the_nightly_backup_on_unless_configured_off(settings: Settings,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    assert runner.invoke(app, ["run", "--console"], input="exit\n").exit_code == 0
    nightly = [s for s in list_schedules(settings) if s.id == SCHEDULE_ID]
    assert [s.name for s in nightly] == ["nightly backup at 01:30 UTC, keeping 7"] and not nightly[0].paused
    monkeypatch.setenv("SELFTUNE_BACKUP__NIGHTLY", "false")
    assert runner.invoke(app, ["run", "--console"], input="exit\n").exit_code == 0
    assert SCHEDULE_ID not in [s.id for s in list_schedules(settings)]
