"""The user's surfaces: `selftune improve ...`, the improve.* skills, Optuna trials, and a real local round."""

from __future__ import annotations

import json

import optuna
import pytest
from typer.testing import CliRunner

from agent.cli.main import app
from config.settings import Settings
from improver import journal
from improver.eval_config import EvalConfig
from improver.generators.optuna_hparams import OptunaRecipeGenerator
from improver.journal import JournalEntry
from improver.loop import Loop
from skills.context import Requester, SkillContext
from skills.registry import load_registry

runner = CliRunner()


def test_cli_journal_rollback_and_kill_switch(settings: Settings) -> None:
    empty = runner.invoke(app, ["improve", "journal", "--json"])
    assert empty.exit_code == 0 and json.loads(empty.stdout)["entries"] == []
    nothing = runner.invoke(app, ["improve", "rollback"])
    assert nothing.exit_code == 1 and "no accepted improvement" in nothing.output and "Traceback" not in nothing.output
    assert runner.invoke(app, ["improve", "stop"]).exit_code == 0
    stopped = runner.invoke(app, ["improve", "run", "--rounds", "1"])
    assert stopped.exit_code == 1 and "kill switch" in stopped.output
    assert runner.invoke(app, ["improve", "resume"]).exit_code == 0
    journal.record(settings, JournalEntry(target="persona:pirate", verdict="rejected", reason="within noise",
                                          baseline=0.4, candidate=0.45, noise=0.12, delta=0.05))
    doc = json.loads(runner.invoke(app, ["improve", "journal", "--json"]).stdout)
    assert doc["entries"][0]["reason"] == "within noise" and "1 attempts" in doc["summary"]
    assert "--rounds" in runner.invoke(app, ["improve", "run", "--help"]).output


def test_journal_skill_answers_what_did_you_improve_this_week(settings: Settings) -> None:
    journal.record(settings, JournalEntry(target="persona:pirate", verdict="accepted", reason="adherence 0.4 -> 1",
                                          delta=0.6, noise=0.12, commit="abcdef1234"))
    registry = load_registry()
    ctx = SkillContext(settings=settings, requester=Requester(user="u", permission="read", transport="discord"))
    result = registry.call("improve.journal", {"days": 7}, ctx)
    assert "1 accepted" in result["summary"] and "persona:pirate" in result["summary"]
    assert registry.get("improve.run").permission == "admin"


def test_optuna_trial_is_a_proposal_and_the_study_persists(settings: Settings, eval_cfg: EvalConfig) -> None:
    cfg = eval_cfg.model_copy(update={"repeats": 2, "train_steps": 5})
    loop = Loop(settings, generator_for=lambda _t: OptunaRecipeGenerator(settings), eval_config=cfg)
    [entry] = loop.run(rounds=1, targets=["recipe:persona-lora"]).entries
    assert entry.generator == "optuna" and entry.verdict in ("accepted", "rejected") and entry.candidate
    study = optuna.load_study(study_name="recipe-persona-lora", storage=f"sqlite:///{settings.home / 'improver_optuna.db'}")
    [trial] = study.trials
    assert trial.state == optuna.trial.TrialState.COMPLETE and trial.value == pytest.approx(entry.candidate)


@pytest.mark.slow
def test_real_round_with_the_local_model_as_generator(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """One round: the tiny local model writes the prompt, the evaluator's local tiny model answers."""
    monkeypatch.setenv("SELFTUNE_LLM__MODEL", "tiny")
    monkeypatch.setenv("SELFTUNE_LLM__MAX_NEW_TOKENS", "32")
    (settings.home / "evaluator.toml").write_text("repeats = 2\nmax_prompts = 8\nmax_new_tokens = 24\n")
    result = runner.invoke(app, ["improve", "run", "--rounds", "1", "--target", "persona:pirate", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["rounds"] == 1 and len(doc["entries"]) == 1
    assert doc["entries"][0]["verdict"] in ("rejected", "accepted")  # a real decision, not a crash
