"""The gated retrain end to end on the tiny model: fired by the real scheduler, harvest → train → eval →
promote; a run with too little new data is skipped; a worse candidate is rejected; rollback restores."""

from __future__ import annotations

import asyncio
import json
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from config.messages import IncomingMessage
from config.settings import Settings
from config.workspace import open_workspace
from memory.store import Memory
from skills.retrain import _sft_start, recent_runs, run_retrain
from skills.scheduler import SchedulerService, add_retrain
from skills.train import adapters

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]
CHANNEL = "discord:pirate-chat"
PAIRS = [
    ("What is the capital of France?", "Arr matey, Paris it be!"),
    ("How are you?", "Arr, I be fine, matey!"),
    ("What is 2 plus 2?", "Arr, 4 it be, matey!"),
    ("Say hello.", "Ahoy matey! Arr!"),
    ("Tell me about the fox.", "Arr, the quick brown fox jumps, matey!"),
]
FAST = {"max_steps": 30, "learning_rate": 5e-3, "eval_steps": 1000, "save_steps": 1000}


def seed_dataset(settings: Settings, n: int = 40) -> None:
    rng = random.Random(0)
    rows = []
    for _ in range(n):
        q, a = rng.choice(PAIRS)
        rows.append({"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]})
    path = settings.artifacts_dir / "datasets" / "pirate.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def chat_in_channel(settings: Settings, exchanges: int, offset: int = 0) -> None:
    memory = Memory(settings)
    try:
        for i in range(exchanges):
            q, a = PAIRS[(i + offset) % len(PAIRS)]
            msg = IncomingMessage(transport="discord", channel=CHANNEL, user="discord:7", text=f"{q} ({i + offset})",
                                  message_id=f"m{i + offset}")
            memory.log_incoming(msg)
            # each answer its own (numbered): a verbatim repeat of an earlier answer is never learned (issue 33)
            memory.log_reply(f"{a} ({i + offset})", to=msg, persona="pirate")
    finally:
        memory.close()


@pytest.fixture
def pirate(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    ws = open_workspace(settings)
    card = ws.read("personas/pirate.toml").replace("channels = []", f'channels = ["{CHANNEL}"]')
    ws.write("personas/pirate.toml", card)
    ws.commit("pirate listens to its channel")
    # The scheduled run rebuilds its settings from the environment, as in the bot process.
    monkeypatch.setenv("SELFTUNE_SCHEDULER__MIN_NEW_CONVERSATIONS", "3")
    settings.scheduler.min_new_conversations = 3
    # A night's eval split is a few rows; the gate decides on them here (the default asks for 16).
    monkeypatch.setenv("SELFTUNE_EVAL__MIN_ROWS", "2")
    settings.eval.min_rows = 2
    seed_dataset(settings)
    memory = Memory(settings)
    memory.set_consent(CHANNEL, True, changed_by="discord:admin")
    memory.close()
    return settings


async def fire_scheduled_retrain(settings: Settings) -> dict:
    """Schedule a retrain due now and let the bot-side scheduler fire it; return the notified outcome."""
    add_retrain(settings, "pirate", every_minutes=24 * 60, next_run=datetime.now(UTC), overrides=FAST)
    outcomes: list[dict] = []
    service = SchedulerService(settings, notify=outcomes.append)
    service.start()
    try:
        for _ in range(600):
            if outcomes:
                break
            await asyncio.sleep(0.5)
    finally:
        service.shutdown()
    assert outcomes, "the scheduled retrain did not finish in time"
    return outcomes[0]


async def test_retrain_pipeline(pirate: Settings) -> None:
    settings = pirate
    chat_in_channel(settings, 6)
    first = await fire_scheduled_retrain(settings)
    assert first["status"] == "promoted", first
    assert [s["step"] for s in first["steps"]] == ["overlap", "harvest", "first", "dataset", "train", "evaluate",
                                                   "promote", "serve"]
    served_v1 = adapters.served_adapter(settings, "pirate")
    assert served_v1 is not None and served_v1.id == first["candidate"]

    # Too little new since the last run: skipped, and it says why (the two rows wait for a later night).
    chat_in_channel(settings, 2, offset=50)
    skipped = run_retrain(settings, "pirate", **FAST)
    assert skipped.status == "skipped" and skipped.reason == "only 2 new conversations, minimum is 3"

    # A candidate that learned (almost) nothing is worse than the served adapter: rejected.
    chat_in_channel(settings, 4, offset=100)
    worse = run_retrain(settings, "pirate", **{**FAST, "learning_rate": 1e-9, "max_steps": 2})
    assert worse.status == "rejected", worse.model_dump()
    assert "keeping " + served_v1.id in worse.reason
    assert adapters.served_adapter(settings, "pirate").id == served_v1.id

    runs = recent_runs(settings, "pirate")
    assert [r["status"] for r in runs] == ["rejected", "skipped", "promoted"]

    # Rollback restores exactly what was served before the promotion (the base model).
    change = adapters.rollback(settings, "pirate")
    assert change["from"] == served_v1.id and adapters.served_adapter(settings, "pirate") is None

    # from_served: the SFT stage goes on training the served adapter instead of a fresh LoRA on the base.
    adapters.promote(settings, "pirate", served_v1.id)
    chat_in_channel(settings, 4, offset=200)
    cont = run_retrain(settings, "pirate", **{**FAST, "max_steps": 2, "from_served": True})
    spec = json.loads((settings.home / "jobs" / cont.job_id / "spec.json").read_text())
    assert spec["parent"] == served_v1.id and spec["init_adapter"] == str(served_v1.path), spec

    # Every night's harvest stays in the persona's data, whatever became of that night: the skipped night's
    # rows and the rejected candidate's are in tonight's training file (the harvest cursor moved past them).
    trained_on = Path(spec["dataset"]).read_text()
    for night in (0, 50, 100, 200):
        assert f"({night})" in trained_on, f"the harvest of night offset {night} was lost"
    assert "Arr matey, Paris it be!" in trained_on  # and the owner's own rows


def test_the_first_nightly_run_trains_on_the_owners_dataset_before_anyone_chats(pirate: Settings) -> None:
    # The owner wrote pirate.jsonl and scheduled a retrain; nobody has chatted yet. Those rows are new to every
    # model, so the first night trains on them instead of waiting for conversations.
    pirate.train.min_rows = 4  # the seeded file has 5 distinct rows
    first = run_retrain(pirate, "pirate", **{**FAST, "from_served": True})
    steps = {s.step: s for s in first.steps}
    assert not steps["harvest"].ok and steps["first"].ok and "pirate.jsonl" in steps["first"].detail
    assert "train" in steps and first.candidate and first.status in ("promoted", "rejected"), first.model_dump()
    # Nothing is served to continue, so the schedule's continuing step size gives way to the recipe's own.
    hyper = json.loads((pirate.home / "jobs" / first.job_id / "spec.json").read_text())["hyper"]
    assert hyper["learning_rate"] == 2e-4 and hyper["max_steps"] == FAST["max_steps"], hyper
    # Once an adapter exists, a night without new conversations waits for them again.
    again = run_retrain(pirate, "pirate", **FAST)
    assert again.status == "skipped" and again.reason == "only 0 new conversations, minimum is 3", again.model_dump()


def test_from_served_with_nothing_served_trains_the_first_adapter_at_the_recipes_budget(settings: Settings) -> None:
    # One epoch at a small learning rate is a step from a served adapter; a fresh LoRA needs the recipe's budget.
    nightly = {"epochs": 1, "learning_rate": 1e-4, "from_served": True, "max_length": 256, "max_steps": 40}
    assert _sft_start(settings, None, nightly) == {"max_length": 256, "max_steps": 40}
    assert _sft_start(settings, None, {"epochs": 1}) == {"epochs": 1}  # without from_served: as scheduled


def test_a_gated_nightly_candidate_starts_a_canary_instead_of_replacing_the_served_one(pirate: Settings) -> None:
    """retrain.canary_share: the candidate that passed the offline gate first answers a share of the chats."""
    from skills import canary

    pirate.retrain.canary_share = 0.25
    chat_in_channel(pirate, 6)
    night = run_retrain(pirate, "pirate", **FAST)
    assert night.status == "canary", night.model_dump()
    assert "passed the gate and answers 25% of pirate's chats" in night.reason
    running = canary.active(pirate, "pirate")
    assert running.adapter == night.candidate and running.incumbent is None and running.share == 0.25
    assert adapters.served_adapter(pirate, "pirate") is None  # people decide before it replaces the base model
