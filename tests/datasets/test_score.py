"""Quality scores through a scripted judge (an OpenAI-compatible server on 127.0.0.1): score, filter, and the
--min-score gate of harvest and synthesis."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli.main import app
from config.settings import JudgeConfig, LLMConfig, Settings
from config.workspace import open_workspace
from skills.dataset.io import iter_canonical, write_dataset
from skills.dataset.manifest import read_manifest
from skills.dataset.score import Scorer, parse_rating, select
from skills.dataset.synth import run_synth
from skills.providers import get_provider
from tests.agent.conftest import ScriptedLLM, scripted_llm  # noqa: F401 - the scripted chat server fixture
from tests.datasets.conftest import chat
from tests.datasets.test_hygiene import log_exchanges


def rating(score: int) -> str:
    """What the judge says for a row it rates `score` on every criterion."""
    return f'Here you go: {{"helpfulness": {score}, "correctness": {score}, "persona_fit": {score}}}'


@pytest.fixture
def judged(settings: Settings, scripted_llm: ScriptedLLM, monkeypatch: pytest.MonkeyPatch) -> Settings:  # noqa: F811
    """Settings (and env, for the CLI) whose judge is the scripted server."""
    url = scripted_llm.url + "/v1"
    for key, value in {"PROVIDER": "openai", "MODEL": "scripted-judge", "BASE_URL": url, "TIMEOUT_S": "5"}.items():
        monkeypatch.setenv(f"SELFTUNE_JUDGE__{key}", value)
    return settings.model_copy(update={"judge": JudgeConfig(provider="openai", model="scripted-judge", base_url=url,
                                                            timeout_s=5)})


def test_score_then_keep_top_quarter(judged: Settings, scripted_llm: ScriptedLLM, tmp_path: Path) -> None:  # noqa: F811
    scores = [2, 5, 3, 1, 4, 3, 2, 1]
    path = tmp_path / "rows.jsonl"
    write_dataset([chat(f"Question {i}?", f"Answer {i}, said plainly.") for i in range(8)], path)
    for score in scores:
        scripted_llm.enqueue(text=rating(score))
    scored = CliRunner().invoke(app, ["dataset", "score", str(path), "--json"])
    assert scored.exit_code == 0, scored.output
    doc = json.loads(scored.stdout)
    assert doc["scores"] == scores and doc["judge"] == "openai:scripted-judge" and doc["rows"] == 8
    assert "helpfulness" in scripted_llm.requests[0]["messages"][0]["content"]  # the rubric is the system prompt
    out = tmp_path / "best.jsonl"
    kept = CliRunner().invoke(app, ["dataset", "filter", str(path), "--keep-top", "0.25", "--out", str(out), "--json"])
    assert kept.exit_code == 0, kept.output
    assert len(scripted_llm.requests) == 8  # the filter used the saved scores, it did not ask the judge again
    answers = [r["messages"][-1]["content"] for r in iter_canonical(out)]
    assert answers == ["Answer 1, said plainly.", "Answer 4, said plainly."]  # exactly the top quarter, in order
    manifest = read_manifest(out)
    assert manifest.scores == [5.0, 4.0] and manifest.judge == "openai:scripted-judge"
    assert manifest.score_filter == "keep-top 0.25"
    at_least = CliRunner().invoke(app, ["dataset", "filter", str(path), "--min-score", "3", "--json"])
    assert json.loads(at_least.stdout)["rows"] == 4


def test_harvest_min_score_drops_low_rows_and_counts_them(judged: Settings, scripted_llm: ScriptedLLM) -> None:  # noqa: F811
    open_workspace(judged)
    log_exchanges(judged, "deck", [("Where is the gold?", "Under the third palm, matey."),
                                   ("Which ship is fastest?", "Dunno."),
                                   ("What do pirates eat?", "Salted pork and hard tack, arr."),
                                   ("Can you sing?", "No.")])
    for score in (5, 1, 4, 2):
        scripted_llm.enqueue(text=rating(score))
    result = CliRunner().invoke(app, ["dataset", "build", "--from", "channel:deck", "--persona", "pirate",
                                      "--min-score", "3", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["rows"] == 2 and doc["skipped"]["low_score"] == 2
    manifest = read_manifest(Path(doc["path"]))
    assert manifest.scores == [5.0, 4.0] and manifest.judge == "openai:scripted-judge"
    assert manifest.skipped["low_score"] == 2 and manifest.score_filter == "min-score 3"
    assert [r["messages"][-1]["content"] for r in iter_canonical(Path(doc["path"]))] == [
        "Under the third palm, matey.", "Salted pork and hard tack, arr."]
    assert "Persona" in scripted_llm.requests[0]["messages"][1]["content"]


def test_synth_min_score_keeps_the_best(judged: Settings, scripted_llm: ScriptedLLM, tmp_path: Path) -> None:  # noqa: F811
    online = judged.model_copy(update={"llm": LLMConfig(provider="openai", model="scripted",
                                                        base_url=scripted_llm.url + "/v1", timeout_s=5, fallback=[])})
    open_workspace(online)
    seeds = tmp_path / "seeds.txt"
    seeds.write_text("Where is the gold?\nHow do ships float?\nWhat is a parrot?\n")
    for text in ("Under the palm, arr.", "Buoyancy keeps her up, matey.", "A bird that talks, arr."):
        scripted_llm.enqueue(text=text)  # the generator's three answers come first ...
    for score in (4, 2, 5):
        scripted_llm.enqueue(text=rating(score))  # ... then the judge scores the three rows
    result = run_synth(online, "persona", tmp_path / "s.jsonl", persona="pirate", seeds=seeds, max_rows=3, min_score=4)
    assert result["rows"] == 2 and result["low_score"] == 1 and result["judge"] == "openai:scripted-judge"
    assert read_manifest(tmp_path / "s.jsonl").scores == [4.0, 5.0]


def test_heuristics_lower_the_judges_score(judged: Settings, scripted_llm: ScriptedLLM) -> None:  # noqa: F811
    scorer = Scorer(get_provider(judged, role="judge"), "scripted")
    scripted_llm.enqueue(text=rating(4))
    canned = scorer.rate(chat("How do you feel?", "As an AI, I have no feelings, but thanks for asking."))
    assert canned.score == 2.5 and canned.penalties == ["boilerplate"] and canned.persona_fit is None
    assert scorer.rate(chat("Hm?", "...")).score == 1.0 and len(scripted_llm.requests) == 1  # no judge call
    scripted_llm.enqueue(text="I cannot rate this.")
    unread = scorer.rate(chat("Hi", "Hello!"))
    assert unread.score == 3.0 and not unread.judged


def test_rating_parsing_and_selection() -> None:
    assert parse_rating('{"helpfulness": 4, "correctness": 2}') == {"helpfulness": 4, "correctness": 2}
    assert parse_rating("helpfulness: 5, correctness = 3") == {"helpfulness": 5, "correctness": 3}
    assert select([1, 3, 3, 2], keep_top=0.5) == [1, 2]  # ties: the earlier row
    assert select([1, 3, 3, 2], min_score=2) == [1, 2, 3]
    refused = CliRunner().invoke(app, ["dataset", "filter", "x.jsonl", "--keep-top", "0.5", "--min-score", "3"])
    assert refused.exit_code != 0 and "exactly one of --keep-top" in refused.output


def test_a_discord_caller_scoring_a_file_in_an_allowed_folder_writes_nothing_beside_it(
        judged: Settings, scripted_llm: ScriptedLLM, tmp_path: Path) -> None:  # noqa: F811
    """datasets.allowed_dirs lets callers read a folder, not write into it: the scores and the filtered rows land
    in selftune's datasets folder."""
    from agent.dispatch import skill_context
    from skills.context import Requester
    from skills.dataset.paths import datasets_dir
    from skills.registry import load_registry

    shared = tmp_path / "shared"
    shared.mkdir()
    path = shared / "rows.jsonl"
    write_dataset([chat(f"Question {i}?", f"Answer {i}.") for i in range(4)], path)
    judged.datasets.allowed_dirs = [shared]
    for score in (5, 1, 4, 2):
        scripted_llm.enqueue(text=rating(score))
    ctx = skill_context(judged, Requester(user="discord:7", transport="discord", channel="c", permission="admin"),
                        chosen_by_model=False)
    registry = load_registry()
    scored = registry.call("dataset.score", {"path": str(path)}, ctx)
    kept = registry.call("dataset.filter", {"path": str(path), "keep_top": 0.5}, ctx)
    assert sorted(p.name for p in shared.iterdir()) == ["rows.jsonl", "rows.jsonl.manifest.json"]
    home = datasets_dir(judged).resolve()
    assert Path(scored["scores_path"]).resolve().is_relative_to(home)
    assert Path(kept["path"]).resolve().is_relative_to(home) and kept["rows"] == 2


def test_a_local_judge_is_refused_when_model_work_runs_on_the_gpu_box(settings: Settings, tmp_path: Path) -> None:
    """With executor.kind = "ray" the bot host loads no weights: scoring with a local judge says so in one sentence."""
    path = tmp_path / "rows.jsonl"
    write_dataset([chat("Question?", "Answer.")], path)
    ray = settings.model_copy(update={"judge": JudgeConfig(provider="local"),
                                      "executor": settings.executor.model_copy(update={"kind": "ray"})})
    from config.errors import UsageError
    from skills.dataset.score import score_file

    with pytest.raises(UsageError, match=r"^Scoring rows needs a judge this machine can ask"):
        score_file(ray, path)
