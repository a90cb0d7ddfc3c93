"""Feedback trains: 👍/👎 on the persona's answers become a DPO/KTO stage of the nightly retrain, recorded."""

from __future__ import annotations

import json

import pytest

from config.messages import IncomingMessage
from config.settings import Settings
from config.workspace import open_workspace
from memory.store import Memory
from skills.retrain import recent_runs, run_retrain

pytestmark = [pytest.mark.timeout(400)]
CHANNEL = "discord:pirate-chat"
QUESTIONS = ["What is the capital of France?", "How are you?", "What is 2 plus 2?", "Say hello.",
             "Tell me about the fox.", "What is JSON?"]
FAST = {"max_steps": 3, "learning_rate": 5e-3, "eval_steps": 1000, "save_steps": 1000, "batch_size": 2}


@pytest.fixture
def pirate(settings: Settings) -> Settings:
    ws = open_workspace(settings)
    ws.write("personas/pirate.toml", ws.read("personas/pirate.toml").replace("channels = []", f'channels = ["{CHANNEL}"]'))
    ws.commit("pirate listens to its channel")
    memory = Memory(settings)
    memory.set_consent(CHANNEL, True, changed_by="discord:admin")
    memory.close()
    return settings


def rate_pairs(settings: Settings, n: int) -> None:
    """n questions, each answered twice ("try again"): the pirate answer got 👍, the plain one 👎."""
    memory = Memory(settings)
    try:
        for i, question in enumerate(QUESTIONS[:n]):
            msg = IncomingMessage(transport="discord", channel=CHANNEL, user="discord:7", text=question,
                                  message_id=f"q{i}")
            memory.log_incoming(msg)
            liked = memory.log_reply(f"Arr matey, {question.lower()} Arr!", to=msg, persona="pirate")
            disliked = memory.log_reply("I cannot help with that.", to=msg, persona="pirate")
            memory.feedback(liked.id, "discord:7", "👍")
            memory.feedback(disliked.id, "discord:7", "👎")
    finally:
        memory.close()


def test_six_feedback_pairs_run_a_preference_stage_and_record_it(pirate: Settings) -> None:
    rate_pairs(pirate, 6)
    outcome = run_retrain(pirate, "pirate", **FAST)
    steps = {s.step: s for s in outcome.steps}
    assert outcome.status in ("promoted", "rejected"), outcome.model_dump()
    assert not steps["harvest"].ok and "train" not in steps, "too few conversations: no SFT stage"
    # 6 pairs are fewer than train.min_rows (8); their 12 rated answers train KTO instead.
    assert steps["preferences"].ok and "KTO stage" in steps["preferences"].detail
    assert "train-kto" in steps and outcome.candidate and outcome.candidate.startswith("pirate-kto/")
    assert "evaluate" in steps
    recorded = recent_runs(pirate, "pirate")[0]
    # the disliked answers are left out of the harvest (and counted): they train the preference stage instead
    assert [s["step"] for s in recorded["steps"]][:5] == ["overlap", "harvest skipped", "harvest", "preferences",
                                                         "train-kto"]
    # The schedule's SFT budget (3 steps at 5e-3) does not reach KTO: it keeps its recipe's epochs and rate.
    hyper = json.loads((pirate.home / "jobs" / outcome.job_id / "spec.json").read_text())["hyper"]
    assert hyper["learning_rate"] == 5e-5 and hyper["max_steps"] != 3 and hyper["batch_size"] == 2

    # The same feedback does not train twice: the next night has nothing new.
    again = run_retrain(pirate, "pirate", **FAST)
    assert again.status == "skipped" and again.reason.startswith("only "), again.model_dump()


def test_enough_pairs_run_a_dpo_stage(pirate: Settings) -> None:
    pirate.train.min_rows = 6
    rate_pairs(pirate, 6)
    outcome = run_retrain(pirate, "pirate", **FAST)
    steps = {s.step: s for s in outcome.steps}
    assert "DPO stage" in steps["preferences"].detail and "6 new feedback pairs" in steps["preferences"].detail
    assert "train-dpo" in steps and outcome.candidate.startswith("pirate-dpo/"), outcome.model_dump()


def test_too_little_feedback_is_skipped(pirate: Settings) -> None:
    rate_pairs(pirate, 2)
    outcome = run_retrain(pirate, "pirate", **FAST)
    assert outcome.status == "skipped" and "preferences" not in {s.step for s in outcome.steps}


def test_cli_feedback_rates_the_last_answer_and_becomes_a_kto_row(pirate: Settings) -> None:
    from typer.testing import CliRunner

    from agent.cli.main import app

    memory = Memory(pirate)
    try:
        memory.set_consent("cli", True, changed_by="local")  # feedback trains only on consented channels
        msg = IncomingMessage(transport="cli", channel="cli", user="local", text="How are you?", message_id="c1")
        memory.log_incoming(msg)
        answer = memory.log_reply("Arr, fine!", to=msg, persona="pirate")
        memory.log_reply("Nothing is scheduled.", to=msg, kind="command")  # not an answer: never the one rated
    finally:
        memory.close()
    result = CliRunner().invoke(app, ["feedback", "up", "--json"])
    assert result.exit_code == 0, result.output
    assert '"message_id": "' + answer.id + '"' in result.stdout
    down = CliRunner().invoke(app, ["feedback", "down", "nope"])
    assert down.exit_code == 1 and "no message nope" in down.output and "Traceback" not in down.output
    memory = Memory(pirate)
    try:
        rows = memory.preferences(persona="pirate", kind="kto")
    finally:
        memory.close()
    assert [(r["label"], r["messages"][-1]["content"]) for r in rows] == [(True, "Arr, fine!")]


def test_feedback_on_eval_split_prompts_stays_out_of_the_stacked_preference_stage(pirate: Settings) -> None:
    """SFT and KTO on one night: the stacked candidate is measured on the SFT eval split, so feedback rows asking
    those prompts do not train it (before, the gate refused every such candidate as overlapping)."""
    pirate.scheduler.min_new_conversations = 3
    pirate.train.min_rows = 4
    rate_pairs(pirate, 6)  # 6 liked answers harvested for SFT; 12 rated answers on the same 6 prompts for KTO
    outcome = run_retrain(pirate, "pirate", **FAST)
    steps = outcome.steps
    names = [s.step for s in steps]
    assert names[:6] == ["overlap", "harvest skipped", "harvest", "preferences", "dataset", "train"], \
        outcome.model_dump()
    kept = [s for s in steps if s.step == "preferences"][-1]
    assert "ask eval-split prompts and stay out" in kept.detail, outcome.model_dump()
    evaluate = next(s for s in steps if s.step == "evaluate")
    assert "repeat training rows" not in evaluate.detail and outcome.status in ("promoted", "rejected"), evaluate
    if kept.ok:
        assert "train-kto" in names
