"""Real APScheduler on the real SQLite store: persistence, coalescing, no overlap, chat-free CLI."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.triggers.interval import IntervalTrigger
from typer.testing import CliRunner

from agent.cli.main import app
from config.errors import NotFound, UsageError
from config.settings import Settings
from config.workspace import open_workspace
from skills.scheduler import (
    SchedulerService,
    add_retrain,
    list_schedules,
    parse_time_of_day,
    remove_schedule,
    schedule_store,
    set_paused,
)

runner = CliRunner()
PROBE = "tests.scheduler.probe:record"


@pytest.fixture
def ws_settings(settings: Settings) -> Settings:
    open_workspace(settings)
    return settings


@pytest.mark.parametrize(("text", "expected"), [("2am", (2, 0)), ("02:00", (2, 0)), ("14:30", (14, 30)),
                                                ("12am", (0, 0)), ("2:15 pm", (14, 15))])
def test_parse_time_of_day(text: str, expected: tuple[int, int]) -> None:
    assert parse_time_of_day(text) == expected


def test_bad_time_is_one_sentence() -> None:
    with pytest.raises(UsageError, match="not a time of day"):
        parse_time_of_day("tonight")


def test_schedule_persists_across_restart(ws_settings: Settings) -> None:
    info = add_retrain(ws_settings, "pirate", at="2am")
    assert info.id == "retrain:pirate" and info.next_run.hour == 2
    # A brand-new scheduler on the same state dir (a restarted bot) sees it.
    again = list_schedules(ws_settings)
    assert [s.id for s in again] == ["retrain:pirate"] and again[0].trigger == "cron[hour='2', minute='0']"
    assert set_paused(ws_settings, "pirate", True).paused
    assert list_schedules(ws_settings)[0].paused
    assert not set_paused(ws_settings, "pirate", False).paused
    remove_schedule(ws_settings, "pirate")
    assert list_schedules(ws_settings) == []
    with pytest.raises(NotFound):
        remove_schedule(ws_settings, "pirate")


def test_unknown_persona_refused(ws_settings: Settings) -> None:
    with pytest.raises(NotFound, match="no persona 'ninja'"):
        add_retrain(ws_settings, "ninja")


def test_cli_schedule_commands(ws_settings: Settings) -> None:
    added = runner.invoke(app, ["schedule", "add", "pirate", "--at", "03:30", "--json"])
    assert added.exit_code == 0, added.output
    assert json.loads(added.stdout)["name"] == "nightly retrain of pirate at 03:30 UTC"
    listed = json.loads(runner.invoke(app, ["schedule", "list", "--json"]).stdout)
    assert [s["persona"] for s in listed["schedules"]] == ["pirate"]
    assert runner.invoke(app, ["schedule", "pause", "pirate"]).exit_code == 0
    assert runner.invoke(app, ["schedule", "remove", "retrain:pirate"]).exit_code == 0
    missing = runner.invoke(app, ["schedule", "remove", "pirate"])
    assert missing.exit_code == 1 and "no schedule" in missing.output


def _add_probe(settings: Settings, out: Path, *, seconds: float, missed: int, sleep_s: float = 0.0) -> None:
    """A probe job whose next run lies `missed` intervals in the past (the machine was off)."""
    start = datetime.now(UTC) - timedelta(seconds=seconds * missed)
    with schedule_store(settings) as scheduler:
        scheduler.add_job(PROBE, IntervalTrigger(seconds=seconds), id="probe", kwargs={"path": str(out), "sleep_s": sleep_s},
                          next_run_time=start)


async def _run_service(settings: Settings, seconds: float, outcomes: list) -> None:
    service = SchedulerService(settings, notify=outcomes.append)
    service.start()
    try:
        await asyncio.sleep(seconds)
    finally:
        service.shutdown()


async def test_missed_runs_coalesce_into_one(ws_settings: Settings, tmp_path: Path) -> None:
    out = tmp_path / "runs.txt"
    _add_probe(ws_settings, out, seconds=3600, missed=5)  # five missed hourly runs
    outcomes: list = []
    await _run_service(ws_settings, 1.5, outcomes)
    assert len(out.read_text().splitlines()) == 1
    assert outcomes == [{"schedule": "probe", "status": "ok"}]


async def test_overlapping_triggers_do_not_double_run(ws_settings: Settings, tmp_path: Path) -> None:
    out = tmp_path / "runs.txt"
    _add_probe(ws_settings, out, seconds=0.3, missed=0, sleep_s=1.6)  # fires every 0.3 s, each run takes 1.6 s
    await _run_service(ws_settings, 2.0, [])
    await asyncio.sleep(1.7)  # let the one running instance finish
    assert len(out.read_text().splitlines()) <= 2  # max_instances=1: at most one run at a time


def test_schedules_by_chat(ws_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """The chat phrasings the issue names drive the same persisted schedules."""
    monkeypatch.setenv("SELFTUNE_LLM__MODEL", "tiny")

    def chat(text: str) -> dict:
        result = runner.invoke(app, ["chat", text, "--json", "--no-memory"])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    added = chat("schedule a nightly retrain of pirate at 2am")
    assert added["intent"] == "schedule" and "nightly retrain of pirate at 02:00 UTC" in added["reply"]
    assert "nightly retrain of pirate at 02:00 UTC: next run" in chat("what's scheduled?")["reply"]
    assert chat("pause the pirate retrain")["reply"].startswith("Paused")
    assert list_schedules(ws_settings)[0].paused
    assert "paused" in chat("what's scheduled?")["reply"]
