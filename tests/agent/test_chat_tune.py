"""'Tune a persona adapter' from chat with each data source, through the real Router, skills and job manager
(the training worker is tests/discord/fake_trainer.py at the process boundary; the LLM a scripted server)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import skills.jobs.manager as job_manager
from agent.chat_tune import preview_text
from agent.cli.main import app
from agent.grammar import resolve
from agent.intents import find_data_sources, find_since
from agent.router import Router
from config.messages import IncomingMessage
from config.settings import LLMConfig, Settings
from config.workspace import open_workspace
from memory.store import Memory
from skills.dataset.manifest import read_manifest
from skills.dataset.sources import DataPlan, Prepared, parse_plan
from skills.jobs import JobManager
from skills.personas import load_persona
from tests.agent.conftest import ScriptedLLM, scripted_llm  # noqa: F401 - the scripted chat server fixture
from tests.discord.conftest import FAKE_TRAINER, cancel_unfinished


def log_answers(settings: Settings, channel: str, count: int = 20, persona: str = "pirate",
                consent: bool = True) -> list[str]:
    """`count` consented exchanges in `channel` whose answers `persona` gave; returns the answers' ids."""
    memory = Memory(settings, index_on_log=False)
    try:
        if consent:
            memory.set_consent(channel, True, changed_by="cli:local")
        ids = []
        for i in range(count):
            question = IncomingMessage(transport="cli", channel=channel, text=f"Question {i}: where be the gold?",
                                       message_id=f"q{i}")
            memory.log_incoming(question)
            ids.append(memory.log_reply(f"Arr matey, answer {i}: under the palm tree number {i}.", to=question,
                                        persona=persona, message_id=f"a{i}").id)
        return ids
    finally:
        memory.close()


@pytest.fixture
def fake_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """Jobs run the fake trainer process instead of the real worker."""
    monkeypatch.setattr(job_manager, "DEFAULT_WORKER", [str(FAKE_TRAINER)])
    monkeypatch.setenv("FAKE_TRAINER_STEPS", "2")


def job_dataset(settings: Settings, job_id: str) -> Path:
    jobs = JobManager(settings)
    try:
        job = jobs.get(job_id)
        jobs.wait(job_id, timeout=30)
        return Path(job.spec["dataset"])
    finally:
        cancel_unfinished(jobs)


def test_cli_tune_from_a_consented_channel_lists_the_harvested_ids(settings, fake_worker):
    open_workspace(settings)
    answers = log_answers(settings, "pirate-chat")
    result = CliRunner().invoke(app, ["chat", "!tune pirate dataset=#pirate-chat", "--channel", "pirate-chat", "--yes",
                                      "--json", "--no-memory"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["ok"] and doc["job_id"], doc
    assert "20 rows" in doc["reply"] and "held out for evaluation" in doc["reply"] and "Estimate on the" in doc["reply"]
    manifest = read_manifest(job_dataset(settings, doc["job_id"]))
    assert manifest is not None and manifest.rows == 20
    listed = [i for s in manifest.sources if s.kind == "channel" for i in s.message_ids or []]
    assert set(listed) == set(answers) | {f"q{i}" for i in range(20)}  # each row: its answer and the turns before
    assert {s.message_ids[-1] for s in manifest.sources if s.message_ids} == set(answers)


def test_a_channel_without_consent_is_refused_in_one_sentence(settings):
    open_workspace(settings)
    log_answers(settings, "pirate-chat", consent=False)
    reply = Router(settings).handle(IncomingMessage(transport="cli", channel="pirate-chat",
                                                    text="!tune pirate dataset=#pirate-chat", confirmed=True))
    assert not reply.ok and not reply.job_id
    assert reply.text.startswith("#pirate-chat has not opted in to collection") and reply.text.count(". ") == 0


def test_too_few_rows_are_refused_before_training(settings):
    open_workspace(settings)
    log_answers(settings, "pirate-chat", count=3)
    reply = Router(settings).handle(IncomingMessage(transport="cli", channel="pirate-chat",
                                                    text="tune a pirate persona adapter from this channel"))
    assert not reply.ok and "Too few rows to train: #pirate-chat gave 3 consented answers" in reply.text
    assert "train.min_rows" in reply.text


def test_synthetic_without_a_language_model_is_refused(settings):
    open_workspace(settings)
    offline = settings.model_copy(update={"llm": LLMConfig(provider="openai", model="x", base_url="http://127.0.0.1:9/v1",
                                                           timeout_s=2, fallback=[])})
    reply = Router(offline).handle(IncomingMessage(transport="cli", text="tune the pirate persona on synthetic data"))
    assert not reply.ok and reply.text.startswith("I can't generate synthetic rows: the language model is not answering")


def test_terminal_preview_waits_for_yes_then_trains_the_mix(settings, fake_worker, scripted_llm):  # noqa: F811
    open_workspace(settings)
    log_answers(settings, "pirate-chat", count=6)
    for i in range(10):  # distinct answers: one answer to every question would be left out as near duplicates
        scripted_llm.enqueue(text=f"Arr, that be fine question number {i}, matey; the {i}th chest be buried deep.")
    online = settings.model_copy(update={"llm": LLMConfig(provider="openai", model="scripted",
                                                          base_url=scripted_llm.url + "/v1", timeout_s=5, fallback=[])})
    router = Router(online)
    ask = router.handle(IncomingMessage(transport="cli", channel="pirate-chat",
                                        text="tune a pirate persona adapter from #pirate-chat plus 10 synthetic rows"))
    assert ask.confirm and not ask.job_id
    assert "16 rows" in ask.text and "6 consented answers harvested, 10 synthetic rows" in ask.text
    assert ask.text.count("\n> ") == 3 and "Reply yes to confirm" in ask.text
    done = router.handle(IncomingMessage(transport="cli", channel="pirate-chat", text="yes"))
    assert done.ok and done.job_id
    manifest = read_manifest(job_dataset(online, done.job_id))
    assert manifest is not None and manifest.rows == 16
    assert {s.kind for s in manifest.sources} == {"channel", "file", "generator"}


def test_create_show_bind_and_edit_a_persona_by_chat(settings, scripted_llm):  # noqa: F811
    ws = open_workspace(settings)
    scripted_llm.enqueue(text='Sure: {"system_prompt": "You are Noir, a hard-boiled 1940s detective.", '
                              '"markers": ["dame", "rain", "the city"]}')
    admin = settings.model_copy(update={"llm": LLMConfig(provider="openai", model="scripted",
                                                         base_url=scripted_llm.url + "/v1", timeout_s=5, fallback=[])})
    router = Router(admin)

    def say(text: str):  # noqa: ANN202
        return router.handle(IncomingMessage(transport="cli", channel="noir-room", text=text))

    card = say("create a persona called noir who talks like a 1940s detective")
    assert card.confirm and "You are Noir, a hard-boiled 1940s detective." in card.text and "dame, rain, the city" in card.text
    assert "noir" not in router.dispatcher.personas()
    assert "Created the noir persona" in say("yes").text
    assert load_persona(settings.workspace_dir, "noir").style.any_of == ["dame", "rain", "the city"]
    assert "noir created by local" in ws.repo.head.commit.message
    assert "noir now answers in this channel" in say("use noir in this channel").text
    assert load_persona(settings.workspace_dir, "noir").channels == ["noir-room"]
    say("hello there")  # the channel's next answer is noir's
    assert "You are Noir, a hard-boiled 1940s detective." in scripted_llm.requests[-1]["messages"][0]["content"]
    assert "Style markers: dame, rain, the city" in say("show the noir persona").text
    assert "Changed noir's prompt" in say("change noir's prompt to You are Noir. Short sentences.").text
    assert load_persona(settings.workspace_dir, "noir").system_prompt == "You are Noir. Short sentences."
    say("and now?")
    assert "You are Noir. Short sentences." in scripted_llm.requests[-1]["messages"][0]["content"]
    assert "system prompt changed by local" in ws.repo.head.commit.message
    journal = say("what did you improve this week?").text
    assert f"persona:noir: system prompt changed by local in chat (not measured), commit {ws.head()[:8]}" in journal
    refused = say(f"create a persona called {'x' * 70} who talks fast")
    assert not refused.ok and "is not a valid persona name" in refused.text


def test_data_source_phrasings():
    assert find_data_sources("from #pirate-chat plus 200 synthetic rows") == "#pirate-chat+synthetic:200"
    assert find_data_sources("from this channel") == "here" and find_data_sources("on synthetic data") == "synthetic"
    assert resolve("!tune pirate dataset=#pirate-chat method=qlora").args["dataset"] == "#pirate-chat"
    assert parse_plan("<#42>+synthetic:5") == DataPlan(channel="42", synthetic=5)
    assert parse_plan("here", here="c1") == DataPlan(channel="c1") and parse_plan("data.jsonl") is None


@pytest.mark.parametrize(("phrase", "intent", "args"), [
    ("tune a pirate persona adapter from this channel", "tune", {"persona": "pirate", "dataset": "here"}),
    ("… from #pirate-chat plus 200 synthetic rows", "tune", {"dataset": "#pirate-chat+synthetic:200"}),
    ("!tune pirate dataset=#pirate-chat method=qlora", "tune", {"persona": "pirate", "dataset": "#pirate-chat"}),
    ("create a persona called noir who talks like a 1940s detective", "persona_create", {"persona": "noir"}),
    ("use noir in this channel", "persona_bind", {"persona": "noir"}),
    ("show the noir persona", "persona_show", {"persona": "noir"}),
])
def test_help_shows_phrasings_that_resolve(settings, phrase, intent, args):
    shown = Router(settings)._help()
    assert phrase in shown
    said = phrase.replace("… ", "tune a pirate persona adapter ")
    resolved = resolve(said, ["pirate", "assistant"])
    assert resolved.name == intent and resolved.args.items() >= args.items()


def test_since_keeps_only_answers_from_that_day_on(settings):
    open_workspace(settings)
    log_answers(settings, "pirate-chat", count=9)
    router = Router(settings)
    recent = router.handle(IncomingMessage(transport="cli", channel="pirate-chat",
                                           text="tune a pirate persona adapter from #pirate-chat since yesterday"))
    assert recent.confirm and "9 consented answers harvested" in recent.text
    later = router.handle(IncomingMessage(transport="cli", channel="pirate-chat",
                                          text="!tune pirate dataset=#pirate-chat+since:2099-01-01"))
    assert not later.ok and later.text.startswith("#pirate-chat has no consented pirate answers to train on since 2099-01-01")


def test_relative_days():
    from datetime import date

    monday = date(2026, 11, 30)
    assert find_since("from #x since monday", monday) == "2026-11-30"
    assert find_since("since friday", monday) == "2026-11-27" and find_since("since last week", monday) == "2026-11-23"
    assert find_since("since 2026-01-02") == "2026-01-02" and find_since("from #x") is None


def test_answering_synthetic_to_the_dataset_question_previews_generated_rows(settings, scripted_llm):  # noqa: F811
    open_workspace(settings)
    scripted_llm.default_text = "Arr, a fine question, matey."
    online = settings.model_copy(update={"llm": LLMConfig(provider="openai", model="scripted",
                                                          base_url=scripted_llm.url + "/v1", timeout_s=5, fallback=[])})
    router = Router(online)
    question = router.handle(IncomingMessage(transport="cli", text="tune a pirate persona adapter"))
    assert "Which dataset?" in question.text and "say 'synthetic'" in question.text
    preview = router.handle(IncomingMessage(transport="cli", text="synthetic"))
    assert preview.confirm and "(30 synthetic rows): 30 rows" in preview.text
    assert "Arr, a fine question, matey." in preview.text
    more = router.handle(IncomingMessage(transport="cli", text="tune a pirate persona adapter on 40 synthetic rows"))
    assert "32 synthetic rows of the 40 asked; the seed prompts ran out" in more.text


def test_creating_a_persona_without_a_language_model_is_one_sentence(settings):
    open_workspace(settings)
    offline = settings.model_copy(update={"llm": LLMConfig(provider="openai", model="x", base_url="http://127.0.0.1:9/v1",
                                                           timeout_s=2, fallback=[])})
    reply = Router(offline).handle(IncomingMessage(transport="cli", text="create a persona called noir who broods"))
    assert not reply.ok and reply.text.startswith("I can't propose a card for noir: the language model is not answering")
    assert "noir" not in Router(offline).dispatcher.personas()


def test_train_submit_names_dataset_prepare_for_a_data_source(settings):
    from config.errors import UsageError
    from skills.context import Requester, SkillContext
    from skills.registry import load_registry

    registry = load_registry(workspace=open_workspace(settings).path)
    ctx = SkillContext(settings=settings, requester=Requester(user="mcp", transport="mcp", permission="admin"))
    with pytest.raises(UsageError, match=r"^'#pirate-chat' is a data source, not a file; build it with dataset.prepare"):
        registry.call("train.submit", {"persona": "pirate", "dataset": "#pirate-chat"}, ctx)


def test_a_small_tune_preview_advises_prompting_and_offers_both(settings):
    open_workspace(settings)
    log_answers(settings, "pirate-chat", count=14)
    ask = Router(settings).handle(IncomingMessage(transport="cli", channel="pirate-chat",
                                                  text="tune a pirate persona adapter from #pirate-chat"))
    assert ask.confirm and "14 rows" in ask.text
    assert "With only 14 rows, a persona card (prompting alone) often does as well" in ask.text
    assert "say 'use pirate in this channel'" in ask.text and "reply yes to train anyway" in ask.text
    quiet = settings.model_copy(update={"train": settings.train.model_copy(update={"advise_prompting_below_rows": 10})})
    path = next((settings.artifacts_dir / "datasets").glob("harvest-pirate-*.jsonl"))  # what the preview showed
    built = Prepared(path=path, rows=14, harvested=14, synthetic=0)
    assert "persona card (prompting alone)" not in preview_text(quiet, {"persona": "pirate", "dataset": str(path)}, built)


def test_terminal_tune_on_a_file_previews_it_and_waits_for_yes(settings, fake_worker, tmp_path):
    open_workspace(settings)
    data = tmp_path / "pirate.jsonl"
    data.write_text("".join(json.dumps({"messages": [{"role": "user", "content": f"Where be treasure {i}?"},
                                                     {"role": "assistant", "content": f"Arr, under palm {i}!"}]}) + "\n"
                            for i in range(20)), encoding="utf-8")
    router = Router(settings)

    def say(text: str):  # noqa: ANN202
        return router.handle(IncomingMessage(transport="cli", channel="cli", text=text))

    assert "Which dataset?" in say("tune a pirate persona adapter").text
    preview = say(str(data))
    assert preview.confirm and not preview.job_id, preview.text
    assert "(the file pirate.jsonl): 20 rows, about" in preview.text and "tokens; " in preview.text
    assert "held out for evaluation" in preview.text and "Estimate on the local executor" in preview.text
    assert preview.text.count("\n> ") == 3 and "Reply yes to confirm" in preview.text
    done = say("yes")
    assert done.ok and done.job_id and job_dataset(settings, done.job_id) == data
