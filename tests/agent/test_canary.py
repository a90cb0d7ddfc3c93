"""An online A/B in the channel (issue 36): a candidate adapter answers half of the pirate's chats through the
Router, people rate the answers, and at the deadline (a moved clock) their 👍/👎 promote it, end it, or keep the
served one; the decision is a persisted schedule that fires by itself, a workspace commit and one sentence."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from agent import persona_switch
from agent.cli.main import app
from agent.memory_hooks import MemoryHooks
from agent.router import Router
from config.messages import IncomingMessage
from config.settings import Settings
from config.workspace import open_workspace
from skills import canary
from skills.providers import get_provider
from skills.scheduler import schedule_store
from skills.train.adapters import promote, served_map
from tests.agent.fake_skills import fake_registry
from tests.eval.fake_openai import ScriptedOpenAI
from tests.helpers import notices_until

CHATS = 40


def register(settings: Settings, version: str) -> str:
    """A pirate adapter in the registry (an OpenAI-compatible server serves it by name: no weights needed here)."""
    dest = settings.artifacts_dir / "adapters" / "pirate-lora" / version
    dest.mkdir(parents=True)
    manifest = {"name": "pirate-lora", "version": version, "base_model": "smollm2", "method": "lora",
                "persona": "pirate", "dataset_sha256": "0" * 64, "recipe": "persona-lora", "metrics": {},
                "parent": None, "created_at": "2026-11-30T00:00:00Z"}
    (dest / "manifest.json").write_text(json.dumps(manifest))
    return f"pirate-lora/{version}"


@pytest.fixture
def pirate(settings: Settings, monkeypatch: pytest.MonkeyPatch):
    """The pirate answers in #deck with v1 served and v2 trained; chats go to a server that names the adapter."""
    monkeypatch.setattr(persona_switch, "_providers", {})
    ws = open_workspace(settings)
    ws.write("personas/pirate.toml", ws.read("personas/pirate.toml").replace("channels = []", 'channels = ["deck"]'))
    ws.commit("pirate answers in #deck")
    v1, v2 = register(settings, "v1"), register(settings, "v2")
    promote(settings, "pirate", v1)
    settings.retrain.canary_min_ratings = 5
    with ScriptedOpenAI(lambda body: f"answered by {body['model']}") as server:
        settings.llm.provider, settings.llm.model, settings.llm.base_url = "openai", "base-model", server.url
        hooks = MemoryHooks(settings)
        router = Router(settings, registry=fake_registry(), provider=get_provider(settings), log_hook=hooks.log)
        yield router, hooks, v1, v2
        hooks.close()


def chat_and_rate(router: Router, hooks: MemoryHooks, likes: str | None) -> list[str]:
    """People in #deck chat; each rates the answer 👍 when the adapter that wrote it is `likes` (or every answer
    when None), else 👎."""
    writers = []
    for i in range(CHATS):
        reply = router.handle(IncomingMessage(text=f"ahoy number {i}", user=f"sailor{i % 4}", transport="discord",
                                              channel="deck", message_id=f"m{i}"))
        answer = hooks.memory.conn.execute("SELECT id, adapter FROM messages WHERE reply_to = ?", (f"m{i}",)).fetchone()
        assert reply.text == f"answered by {answer['adapter'].replace('/', '-')}"  # the row names who wrote it
        hooks.memory.feedback(answer["id"], f"discord:sailor{i % 4}", "👍" if likes in (None, answer["adapter"]) else "👎")
        writers.append(answer["adapter"])
    return writers


def test_a_liked_candidate_is_promoted_at_the_deadline(settings: Settings, pirate) -> None:
    router, hooks, v1, v2 = pirate
    result = CliRunner().invoke(app, ["adapters", "canary", "pirate", v2, "--share", "0.5", "--days", "2"])
    assert result.exit_code == 0 and "50% of pirate's chat turns" in result.output
    writers = chat_and_rate(router, hooks, likes=v2)
    assert 0.3 < writers.count(v2) / CHATS < 0.7 and set(writers) == {v1, v2}  # both sides answered their share
    started = canary.active(settings, "pirate")
    assert canary.decide(settings, "pirate", now=started.deadline - timedelta(minutes=1)) is None  # not yet
    decision = canary.decide(settings, "pirate", now=started.deadline + timedelta(minutes=1))
    assert decision.outcome == "promoted" and served_map(settings)["pirate"] == v2
    assert decision.sentence.startswith(f"{v2} now serves pirate") and "👍 100%" in decision.sentence
    assert canary.active(settings, "pirate") is None
    messages = [c.message for c in open_workspace(settings).repo.iter_commits(max_count=4)]
    assert messages[0].startswith("canary pirate: promoted") and messages[1].startswith("promote pirate")


def test_a_disliked_candidate_is_ended_and_the_served_one_stays(settings: Settings, pirate) -> None:
    router, hooks, v1, v2 = pirate
    canary.start(settings, "pirate", v2, share=0.5, days=2)
    chat_and_rate(router, hooks, likes=v1)
    started = canary.active(settings, "pirate")
    decision = canary.decide(settings, "pirate", now=started.deadline)
    assert decision.outcome == "ended" and served_map(settings)["pirate"] == v1
    assert "liked its answers less" in decision.sentence and f"{v1} stays" in decision.sentence
    # With the canary over, every chat is the served adapter's again.
    reply = router.handle(IncomingMessage(text="one more", user="sailor1", transport="discord", channel="deck",
                                          message_id="after"))
    assert reply.text == "answered by pirate-lora-v1"


def test_too_few_ratings_keep_the_served_adapter(settings: Settings, pirate) -> None:
    _router, _hooks, v1, v2 = pirate
    started = canary.start(settings, "pirate", v2, share=0.5, days=2)
    decision = canary.decide(settings, "pirate", now=started.deadline)
    assert decision.outcome == "kept" and "too few rated answers" in decision.sentence
    assert served_map(settings)["pirate"] == v1


def test_the_persisted_decision_fires_by_itself(settings: Settings, pirate, monkeypatch: pytest.MonkeyPatch) -> None:
    """The deadline's job is in the schedule store; once due, the running scheduler decides and posts one sentence."""
    router, hooks, _v1, v2 = pirate
    started = canary.start(settings, "pirate", v2, share=0.5, days=2)
    chat_and_rate(router, hooks, likes=v2)
    monkeypatch.setattr(canary, "_now", lambda: started.deadline + timedelta(seconds=1))  # two days later
    with schedule_store(settings) as store:  # what the store would do two days later: the job is due now
        store.modify_job(canary.decision_id("pirate"), next_run_time=time_now(settings))
    notices = [n for n in notices_until(settings, "canary promoted", 30) if n.get("status") == "canary promoted"]
    assert notices[0]["status"] == "canary promoted" and notices[0]["sentence"].startswith(f"{v2} now serves pirate")
    assert served_map(settings)["pirate"] == v2


def test_a_canary_of_the_served_adapter_is_refused_in_one_sentence(settings: Settings, pirate) -> None:
    result = CliRunner().invoke(app, ["adapters", "canary", "pirate", "pirate-lora/v1"])
    assert result.exit_code == 2 and "serves pirate-lora/v1 already" in result.output  # a usage error
    assert "Traceback" not in result.output and canary.active(settings, "pirate") is None


def time_now(settings: Settings) -> datetime:
    return datetime.now(UTC)


def test_harvest_keeps_the_adapter_that_wrote_each_row(settings: Settings, pirate) -> None:
    from skills.dataset.harvest import harvest_channel
    from skills.dataset.manifest import read_manifest

    router, hooks, v1, v2 = pirate
    hooks.memory.set_consent("deck", True, "discord:admin")
    canary.start(settings, "pirate", v2, share=0.5, days=2)
    chat_and_rate(router, hooks, likes=None)  # harvest leaves 👎 answers out: here both sides are liked
    harvested = harvest_channel(hooks.memory, "deck", persona="pirate")
    sources = read_manifest(harvested.path).sources
    wrote = {row["id"]: row["adapter"] for row in hooks.memory.conn.execute("SELECT id, adapter FROM messages")}
    assert sources and all(s.adapter == wrote[s.message_ids[-1]] for s in sources)  # each row's answer, its writer
    assert {s.adapter for s in sources} == {v1, v2}


def test_a_stopped_canary_serves_no_more_turns_and_its_decision_is_unscheduled(settings: Settings, pirate) -> None:
    router, _hooks, v1, v2 = pirate
    canary.start(settings, "pirate", v2, share=0.5, days=2)
    result = CliRunner().invoke(app, ["adapters", "canary", "pirate", "--stop"])
    assert result.exit_code == 0 and f"{v1} answers every chat again" in " ".join(result.output.split())
    assert canary.active(settings, "pirate") is None
    with schedule_store(settings) as store:
        assert store.get_job(canary.decision_id("pirate")) is None
    texts = {router.handle(IncomingMessage(text=f"ahoy {i}", user="s", transport="discord", channel="deck",
                                           message_id=f"after{i}")).text for i in range(6)}
    assert texts == {"answered by pirate-lora-v1"}
