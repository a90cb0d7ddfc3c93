"""The served adapter is watched: a nightly-promoted adapter whose 👍 rate in real use falls beyond the noise is
rolled back by the scheduled check, which the real APScheduler fires; `adapters show` and `doctor` show the rate."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from agent.cli.main import app
from config.settings import Settings
from config.state import connect
from config.workspace import open_workspace
from improver import journal
from improver.scheduled import WATCH_ID, install
from improver.watch import served_watches, watch_of
from memory.log import LoggedMessage, add_feedback, init_schema, insert_messages, new_id
from skills.train import adapters
from tests.helpers import notices_until
from tests.train.test_adapters import fake_adapter

WAIT_S = 60
runner = CliRunner()


def rate_answers(settings: Settings, adapter: str, liked: list[bool], persona: str = "pirate") -> None:
    """Users ask, `adapter` answers in the persona's channel, and each answer gets a 👍 or a 👎, in this order."""
    conn = connect(settings)
    try:
        init_schema(conn)
        for i, up in enumerate(liked):
            ask = LoggedMessage(id=new_id(), transport="discord", channel="c1", author=f"u{i % 7}", role="user",
                                text=f"question {i}")
            answer = LoggedMessage(id=new_id(), transport="discord", channel="c1", author="assistant",
                                   role="assistant", text=f"Arr, answer {i}", reply_to=ask.id, persona=persona,
                                   adapter=adapter, kind="chat")
            insert_messages(conn, [ask, answer])
            add_feedback(conn, answer.id, ask.author, 1 if up else -1)
    finally:
        conn.close()


def pattern(liked: int, of: int) -> list[bool]:
    """`liked` 👍 spread evenly over `of` ratings."""
    return [(i * liked) // of != ((i + 1) * liked) // of for i in range(of)]


def test_a_nightly_promoted_adapter_whose_thumbs_up_rate_falls_is_rolled_back_by_the_scheduled_check(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    open_workspace(settings)
    v1, v2 = fake_adapter(settings, "pirate-lora", "v1"), fake_adapter(settings, "pirate-lora", "v2")
    adapters.promote(settings, "pirate", v1)
    adapters.promote(settings, "pirate", v2)  # the nightly retrain's promotion: its gate passed
    rate_answers(settings, v1, pattern(20, 40))
    # v2 is liked at first (34 of 40), then its answers go bad: 10 of the latest 40.
    rate_answers(settings, v2, pattern(34, 40) + pattern(20, 30) + pattern(10, 40))
    assert adapters.served_map(settings)["pirate"] == v2

    # Before the scheduler runs: the rate is on show where people look.
    shown = json.loads(runner.invoke(app, ["adapters", "show", v2, "--json"]).stdout)["in_use"]
    assert shown == [w.model_dump(mode="json") for w in served_watches(settings)]
    assert shown[0]["first_rate"] == 0.85 and shown[0]["recent_rate"] == 0.25 and shown[0]["fell"]
    assert served_watches(settings)[0].line() == ("👍 58% of 110 rated answers in use; first 40: 85%, latest 40: 25% "
                                                  f"(noise ±{shown[0]['noise']:.0%})")
    human = runner.invoke(app, ["adapters", "show", v2]).stdout
    assert "in use for pirate" in human and "👍 58% of 110" in human  # the table wraps the rest
    doctor = json.loads(runner.invoke(app, ["doctor", "--json"]).stdout)
    [pirate] = [c for c in doctor["checks"] if c["name"] == "persona pirate"]
    assert pirate["detail"].endswith(f"; {served_watches(settings)[0].line()}")
    assert "👍 58%" in runner.invoke(app, ["doctor"]).stdout

    # The bot's scheduler, as `selftune run` starts it: the watch fires every 1.2 s here (hourly by default).
    monkeypatch.setenv("SELFTUNE_IMPROVER__WATCH_EVERY_MINUTES", "0.02")
    fast = Settings(home=settings.home, base_model="tiny")
    install(fast)
    notices = notices_until(fast, "rolled back", WAIT_S)
    assert adapters.served_map(settings)["pirate"] == v1
    [notice] = [n for n in notices if n.get("status") == "rolled back"]
    assert notice["schedule"] == WATCH_ID and notice["persona"] == "pirate"
    assert notice["reason"] == ("I stopped serving `pirate-lora/v2` for pirate and went back to `pirate-lora/v1`: its "
                                "👍 rate fell from 85% of its first 40 rated answers to 25% of the latest 40, more "
                                f"than the noise (±{shown[0]['noise']:.0%}).")
    last = journal.entries(settings)[-1]
    assert last.verdict == "rolled_back" and last.generator == "watch" and last.target == "adapter:pirate"
    assert open_workspace(settings).repo.head.commit.message.startswith(f"rollback pirate: {v2} -> {v1}")
    # v1 has its own record; the next check leaves it alone, and v2 is not rolled back twice.
    assert [w.fell for w in served_watches(settings)] == [False]


def test_a_drop_within_the_noise_or_too_few_ratings_decides_nothing() -> None:
    within = watch_of(pattern(30, 40) + pattern(26, 40), "pirate", "a/v1", 40)  # 75% -> 65%: noise on 40 each
    assert within.recent_rate == 0.65 and not within.fell and within.noise > 0.1
    few = watch_of(pattern(40, 40) + pattern(0, 39), "pirate", "a/v1", 40)
    assert few.recent_rate is None and not few.fell and few.line() == "👍 51% of 79 rated answers in use (watched from 80)"
    assert watch_of([], "pirate", "a/v1", 40).line() == "no rated answers in use yet"


def test_the_improver_watch_schedule_is_installed_once(settings: Settings) -> None:
    open_workspace(settings)
    install(settings)
    install(settings)
    listed = json.loads(runner.invoke(app, ["schedule", "list", "--json"]).stdout)
    ids = [s["id"] for s in (listed if isinstance(listed, list) else listed["schedules"])]
    assert ids.count(WATCH_ID) == 1
