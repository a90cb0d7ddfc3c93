"""Regressions roll back by themselves: the real APScheduler fires the nightly retrain (or an improver round),
the regression check follows it, reverts the change that now hurts, and the notification hook carries one
sentence per persona."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
import tomli_w
from typer.testing import CliRunner

from agent.cli.main import app
from config.settings import Settings
from config.workspace import open_workspace
from improver import holdout, journal
from improver.eval_config import EvalConfig
from improver.generators.llm_edit import LLMEditGenerator
from improver.loop import Loop
from improver.proposals import Draft
from improver.regressions import find_and_roll_back, in_window
from improver.scheduled import NIGHTLY_FUNC, ROUND_ID, install
from skills.scheduler import SchedulerService, add_retrain, make_scheduler
from skills.train.adapters import SERVED, served_map, set_served
from tests.eval.conftest import train_adapter
from tests.helpers import notices_until
from tests.improver import conftest as fake
from tests.improver.conftest import scripted_overrides
from tests.improver.test_adapter_proposals import off_target_rows
from tests.improver.test_loop import FakeLLM
from tests.improver.test_planted import STRONG

WAIT_S = 120  # upper bound for the scheduler to fire and the check to finish (it usually takes ~10 s)


def _accept_strong_prompt(settings: Settings, cfg: EvalConfig) -> journal.JournalEntry:
    llm = FakeLLM(f"<prompt>{STRONG}</prompt>")
    loop = Loop(settings, generator_for=lambda _t: LLMEditGenerator(settings, provider=llm), eval_config=cfg)
    [entry] = loop.run(rounds=1, targets=["persona:pirate"]).entries
    assert entry.verdict == "accepted", entry
    return entry


def test_scheduled_check_reverts_a_change_that_regressed(settings: Settings, eval_cfg: EvalConfig,
                                                         answer_server: str) -> None:
    ws = open_workspace(settings)
    tree_before = ws.repo.head.commit.tree.hexsha
    accepted = _accept_strong_prompt(settings, eval_cfg)
    # The scheduled job builds its evaluator config from the state dir, like the bot process does.
    (settings.home / "evaluator.toml").write_text(tomli_w.dumps(scripted_overrides(answer_server)))
    add_retrain(settings, "pirate", every_minutes=1 / 60)  # a "nightly" retrain every second
    assert install(settings) == ["retrain:pirate"]
    fake.PENALIZED.append("start every answer")  # the world changed: the accepted prompt now hurts

    notices = notices_until(settings, "rolled back", WAIT_S)
    assert ws.repo.head.commit.tree.hexsha == tree_before and STRONG not in ws.read("personas/pirate.toml")
    last = journal.entries(settings)[-1]
    assert last.verdict == "rolled_back" and "regression detected" in last.reason
    assert accepted.commit[:8] in last.reason and in_window(settings) == []
    # The retrain's own outcome came first, then one sentence for the persona whose change was undone.
    retrain = next(n for n in notices if n.get("persona") == "pirate" and n.get("status") == "skipped")
    assert retrain["schedule"] == "retrain:pirate"
    [rollback] = [n for n in notices if n.get("status") == "rolled back"]
    assert rollback["persona"] == "pirate" and rollback["schedule"] == "retrain:pirate"
    assert rollback["reason"].startswith("I undid the improvement to persona:pirate") and rollback["reason"].count(". ") == 0


def test_changes_older_than_the_window_are_not_rechecked(settings: Settings, eval_cfg: EvalConfig) -> None:
    _accept_strong_prompt(settings, eval_cfg)
    assert [e.target for e in in_window(settings)] == ["persona:pirate"]
    time.sleep(2.1)  # journal timestamps have whole seconds
    assert in_window(settings, window_days=1 / 86400) == []


def test_install_points_retrain_schedules_at_the_checked_retrain(settings: Settings) -> None:
    open_workspace(settings)
    add_retrain(settings, "pirate", at="02:00")
    assert install(settings) == ["retrain:pirate"] and install(settings) == []
    scheduler = make_scheduler(settings)
    scheduler.start(paused=True)
    try:
        assert scheduler.get_job("retrain:pirate").func_ref == NIGHTLY_FUNC
    finally:
        scheduler.shutdown(wait=False)


def test_scheduled_improver_round_ends_with_the_regression_check(
    settings: Settings, eval_cfg: EvalConfig, answer_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = open_workspace(settings)
    tree_before = ws.repo.head.commit.tree.hexsha
    _accept_strong_prompt(settings, eval_cfg)
    (settings.home / "evaluator.toml").write_text(tomli_w.dumps(scripted_overrides(answer_server)))
    # The round's generator asks the configured chat provider: here the scripted server on 127.0.0.1.
    monkeypatch.setenv("SELFTUNE_LLM__PROVIDER", "openai")
    monkeypatch.setenv("SELFTUNE_LLM__BASE_URL", answer_server)
    added = CliRunner().invoke(app, ["improve", "schedule", "--every-minutes", "0.02", "--target", "persona:pirate",
                                     "--json"])
    assert added.exit_code == 0, added.output
    assert json.loads(added.stdout)["id"] == ROUND_ID
    fake.PENALIZED.append("start every answer")

    done = threading.Event()
    notices: list[dict] = []
    service = SchedulerService(settings, notify=lambda o: (notices.append(o), done.set()), background=True)
    service.start()
    try:
        assert done.wait(WAIT_S), f"no rollback within {WAIT_S} s"
    finally:
        service.shutdown()
    [notice] = notices[:1]
    assert notice["schedule"] == ROUND_ID and notice["persona"] == "pirate" and notice["status"] == "rolled back"
    assert ws.repo.head.commit.tree.hexsha == tree_before
    verdicts = [e.verdict for e in journal.entries(settings)]
    assert verdicts[0] == "accepted" and "rolled_back" in verdicts and len(verdicts) >= 3  # round entry in between


class ServeAdapter:
    """A generator that proposes serving one registered adapter for the pirate."""

    name = "retrain"

    def __init__(self, settings: Settings, adapter_id: str) -> None:
        self.settings, self.adapter_id = settings, adapter_id

    def propose(self, target: str, history: list) -> Draft:
        text = set_served(open_workspace(self.settings).read(SERVED), "pirate", self.adapter_id)
        return Draft(target=target, changes={SERVED: text}, generator=self.name)

    def feedback(self, proposal: object, verdict: object) -> None:
        """Nothing to learn."""


def test_regressed_adapter_change_is_reverted_and_the_previous_adapter_served_again(
    settings: Settings, eval_cfg: EvalConfig, tiny_model_dir: Path
) -> None:
    adapters = settings.artifacts_dir / "adapters" / "pirate-lora"
    train_adapter(tiny_model_dir, off_target_rows(), adapters / "v1", steps=40)
    train_adapter(tiny_model_dir, holdout.recipe_rows(settings.holdout_dir, "default")[0], adapters / "v2", steps=40)
    ws = open_workspace(settings)
    ws.write(SERVED, set_served(ws.read(SERVED), "pirate", "pirate-lora/v1"))
    ws.commit("serve pirate-lora/v1")
    loop = Loop(settings, generator_for=lambda _t: ServeAdapter(settings, "pirate-lora/v2"), eval_config=eval_cfg)
    [entry] = loop.run(rounds=1, targets=["adapter:pirate"]).entries
    assert entry.verdict == "accepted" and served_map(settings)["pirate"] == "pirate-lora/v2", entry
    # The pirate's own held-out rows arrive and look like what v1 learned: v2 is now the worse adapter.
    (settings.holdout_dir / "adapters").mkdir(parents=True, exist_ok=True)
    (settings.holdout_dir / "adapters" / "pirate.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in off_target_rows()))
    [done] = find_and_roll_back(settings, eval_cfg, timeout_s=120)
    assert done.entry.verdict == "rolled_back" and done.personas == ["pirate"]
    assert served_map(settings)["pirate"] == "pirate-lora/v1"
    assert done.reserved == ["pirate: local serving follows the served pointer (pirate-lora/v1)"]
    assert done.notifications()[0]["reason"].startswith("I undid the improvement to adapter:pirate")


def test_changing_an_adopted_retrain_schedule_keeps_the_check(settings: Settings) -> None:
    open_workspace(settings)
    add_retrain(settings, "pirate", at="02:00")
    install(settings)
    add_retrain(settings, "pirate", at="04:30")  # the user moves it
    scheduler = make_scheduler(settings)
    scheduler.start(paused=True)
    try:
        job = scheduler.get_job("retrain:pirate")
        assert job.func_ref == NIGHTLY_FUNC and "04:30" in job.name
    finally:
        scheduler.shutdown(wait=False)
