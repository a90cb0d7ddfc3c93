"""The loop end to end with the evaluator in its own process: merge+tag, delete, plateau, kill switch,
budgets, crashes, rollback and automatic regression rollback."""

from __future__ import annotations

import json
import time
from pathlib import Path

from config.settings import Settings
from config.workspace import open_workspace
from improver import journal
from improver.eval_config import EvalConfig
from improver.generators.llm_edit import LLMEditGenerator
from improver.loop import STOP_FILE, Loop, rollback
from improver.proposals import rationale_of
from improver.regressions import check_regressions
from skills.providers.base import ChatResult
from tests.improver import conftest as fake
from tests.improver.test_planted import STRONG

WEAK = "You are a formal assistant."


class FakeLLM:
    """A scripted chat provider: replies from a queue; remembers what it was asked."""

    name = "fake"

    def __init__(self, *replies: str) -> None:
        self.replies, self.seen = list(replies), []

    def enqueue(self, reply: str) -> None:
        self.replies.append(reply)

    def chat(self, messages, *, tools=None, max_tokens=None, temperature=0.0) -> ChatResult:  # noqa: ANN001
        self.seen.append(messages)
        return ChatResult(text=self.replies.pop(0), model="fake")


def _loop(settings: Settings, cfg: EvalConfig, llm: FakeLLM, **kw) -> Loop:  # noqa: ANN003
    return Loop(settings, generator_for=lambda _t: LLMEditGenerator(settings, provider=llm), eval_config=cfg, **kw)


def test_accepted_proposal_is_merged_tagged_journaled_and_rolls_back_exactly(
    settings: Settings, eval_cfg: EvalConfig
) -> None:
    ws = open_workspace(settings)
    tree_before = ws.repo.head.commit.tree.hexsha
    llm = FakeLLM(f"<prompt>{STRONG}</prompt> Because repetition of markers helps.")
    summary = _loop(settings, eval_cfg, llm).run(rounds=1, targets=["persona:pirate"])
    [entry] = summary.entries
    assert entry.verdict == "accepted", entry
    assert entry.delta > entry.noise > 0 and entry.files == ["personas/pirate.toml"]
    assert ws.head() == entry.commit and STRONG in ws.read("personas/pirate.toml")
    assert any(t.commit.hexsha == entry.commit for t in ws.repo.tags if t.name.startswith("improve/r1-"))
    assert not [h for h in ws.repo.heads if h.name.startswith("proposal/")]
    # The rationale is stored, but nowhere the evaluator can see it (commit messages of main + tags).
    assert "repetition of markers" in rationale_of(settings, entry.proposal_id)
    assert "repetition" not in ws.repo.git.log("--all", "--format=%B")
    tsv = (ws.path / "results.tsv").read_text().splitlines()
    assert tsv[0].split("\t")[:3] == ["ts", "round", "target"] and "accepted" in tsv[1]
    assert "results.tsv" not in ws.repo.git.ls_files()

    back = rollback(settings)
    assert back.verdict == "rolled_back"
    assert ws.repo.head.commit.tree.hexsha == tree_before
    assert [e.verdict for e in journal.entries(settings)] == ["accepted", "rolled_back"]


def test_rejections_delete_the_branch_and_plateau_stops_the_target(settings: Settings, eval_cfg: EvalConfig) -> None:
    settings.improver.plateau_rejections = 2
    ws = open_workspace(settings)
    head = ws.head()
    llm = FakeLLM(f"<prompt>{WEAK}</prompt>", "<prompt>You are terse.</prompt>")
    summary = _loop(settings, eval_cfg, llm).run(rounds=3, targets=["persona:pirate"])
    assert [e.verdict for e in summary.entries] == ["rejected", "rejected"]
    assert ws.head() == head and not [h for h in ws.repo.heads if h.name != "main"]
    assert any("plateaued" in n for n in summary.notes)
    # The second request showed the generator its rejected attempt, so it would not repeat it.
    assert WEAK in llm.seen[1][1]["content"] and "rejected" in llm.seen[1][1]["content"]


def test_kill_switch_and_disabled_flag_stop_before_any_proposal(settings: Settings, eval_cfg: EvalConfig) -> None:
    (settings.home / STOP_FILE).write_text("")
    summary = _loop(settings, eval_cfg, FakeLLM()).run(rounds=2, targets=["persona:pirate"])
    assert summary.entries == [] and "kill switch" in summary.notes[0]
    (settings.home / STOP_FILE).unlink()
    settings.improver.enabled = False
    summary = _loop(settings, eval_cfg, FakeLLM()).run(rounds=2, targets=["persona:pirate"])
    assert summary.entries == [] and "disabled" in summary.notes[0]


def test_evaluation_over_budget_is_a_crash_and_the_branch_is_gone(settings: Settings, eval_cfg: EvalConfig) -> None:
    llm = FakeLLM(f"<prompt>{STRONG}</prompt>")
    start = time.monotonic()
    summary = _loop(settings, eval_cfg, llm, proposal_budget_s=0.3).run(rounds=1, targets=["persona:pirate"])
    assert time.monotonic() - start < 20
    [entry] = summary.entries
    assert entry.verdict == "crash" and "budget" in entry.reason
    assert not [h for h in open_workspace(settings).repo.heads if h.name != "main"]


def test_generator_failure_is_recorded_as_crash(settings: Settings, eval_cfg: EvalConfig) -> None:
    # Retraining needs a dataset for the persona; without one the attempt crashes, the loop goes on.
    summary = Loop(settings, eval_config=eval_cfg).run(rounds=1, targets=["adapter:pirate"])
    [entry] = summary.entries
    assert entry.verdict == "crash" and "generator failed" in entry.reason


def test_later_regression_rolls_the_accepted_commit_back(settings: Settings, eval_cfg: EvalConfig) -> None:
    ws = open_workspace(settings)
    tree_before = ws.repo.head.commit.tree.hexsha
    _loop(settings, eval_cfg, FakeLLM(f"<prompt>{STRONG}</prompt>")).run(rounds=1, targets=["persona:pirate"])
    assert check_regressions(settings, eval_cfg, timeout_s=60) == []  # still better: kept
    fake.PENALIZED.append("start every answer")  # the world changed: that prompt now hurts
    [entry] = check_regressions(settings, eval_cfg, timeout_s=60)
    assert entry.verdict == "rolled_back" and "regression detected" in entry.reason
    assert ws.repo.head.commit.tree.hexsha == tree_before


def test_evaluator_config_file_carries_no_rationale(settings: Settings, eval_cfg: EvalConfig, tmp_path: Path) -> None:
    data = json.loads(eval_cfg.model_dump_json())
    assert set(data) >= {"workspace", "holdout_dir", "answerer"} and "rationale" not in json.dumps(data)
