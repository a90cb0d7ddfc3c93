"""A judge the gate can trust, or one that says it cannot be trusted: its first-position rate and the agreement
between its two orders are measured on every evaluation, and an unreliable judge is left out of the gate."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from config.settings import JudgeConfig
from config.workspace import open_workspace
from skills.context import Requester, SkillContext
from skills.evaluate.gate import decide
from skills.evaluate.judge import calibrate, judge_pairs, position_stats
from skills.registry import load_registry
from tests.eval.conftest import pirate_rows, write_jsonl
from tests.eval.fake_openai import ScriptedOpenAI


def test_an_always_A_judge_is_unreliable_and_a_better_loss_without_forgetting_is_promoted(
        settings, tiny_adapter: Path, tmp_path):
    # The candidate: a LoRA trained on pirate answers, registered for the pirate persona with an eval split of
    # 16 unseen rows (eval.min_rows); the served model is the base. The judge always answers "A".
    open_workspace(settings)  # the pirate persona, as `selftune run` creates it
    dest = shutil.copytree(tiny_adapter, settings.artifacts_dir / "adapters" / "pirate-tiny" / "v1")
    manifest = json.loads((dest / "manifest.json").read_text())
    manifest["eval_dataset"] = {"path": str(write_jsonl(dest / "eval.jsonl", pirate_rows(16, 7)))}
    (dest / "manifest.json").write_text(json.dumps(manifest))
    ctx = SkillContext(settings=settings, requester=Requester(permission="admin"))
    with ScriptedOpenAI(lambda body: "A") as server:
        settings.judge = JudgeConfig(provider="openai", model="always-a", base_url=server.url)
        out = load_registry().call("adapters.promote", {"persona": "pirate", "adapter": "pirate-tiny/v1"}, ctx)
    assert len(server.requests) == 2 * 16  # every pair judged in both orders
    assert out["promoted"] is True and "held-out loss" in out["reason"]
    assert "left out as unreliable" in out["reason"] and "first in 100% of its verdicts" in out["reason"]
    folder = max((settings.artifacts_dir / "reports").glob("*/"))
    report = json.loads((folder / "report.json").read_text())
    judged = report["judge"]
    assert judged["reliable"] is False and judged["first_position_rate"] == 1.0 and judged["order_agreement"] == 0.0
    assert report["gate"]["metric"] == "heldout_loss" and not report["forgetting"]["flagged"]
    markdown = (folder / "report.md").read_text()
    assert "first-position rate 100%" in markdown and "UNRELIABLE, left out of the gate" in markdown


def test_a_consistent_judge_stays_in_the_gate_and_decides():
    # Prefers the candidate in both orders on 18 of 20 pairs, the other answer on 2: no position bias.
    verdicts = [["A", "B"]] * 18 + [["B", "A"]] * 2
    scores = [1.0] * 18 + [0.0] * 2
    judged = calibrate({"scores": scores, "verdicts": verdicts, **position_stats(verdicts)}, 0.2, 0.4)
    assert judged["reliable"] and judged["first_position_rate"] == 0.5 and judged["order_agreement"] == 1.0
    report = {"heldout": {"candidate_items": [2.0] * 20, "against_items": [1.0] * 20}, "judge": judged,
              "forgetting": {"flagged": False}}
    verdict = decide(report)
    assert verdict.metric == "judge_win_rate" and verdict.promote  # the judge decides, over a worse loss


@pytest.mark.parametrize(("verdicts", "reason"), [
    ([["TIE", "TIE"]] * 10, "preferred neither answer"),
    ([["B", "B"]] * 9 + [["A", "B"]], "chose the answer shown first in 5%"),
    ([["A", "A"], ["B", "B"]] * 3 + [["A", "B"]] * 4, "disagreed on 60% of the pairs"),
])
def test_unreliable_judges_say_why(verdicts, reason):
    judged = calibrate({"verdicts": verdicts, **position_stats(verdicts)}, 0.2, 0.4)
    assert judged["reliable"] is False and reason in judged["unreliable_reason"]


class FirstLeaning:
    """A log-probability judge that leans 0.75 toward whichever answer is shown first, and prefers 'good' answers."""

    def first_probability(self, messages: list[dict]) -> float:
        first = messages[-1]["content"].split("## Answer A\n")[1].split("\n\n## Answer B")[0]
        return 0.75 + (0.25 if first == "good" else -0.25)


def test_a_logprob_judge_averages_both_orders_and_its_lean_is_read_out():
    prompts = [[{"role": "user", "content": "q"}]] * 4
    result = judge_pairs(FirstLeaning(), prompts, ["good"] * 4, ["bad"] * 4)
    # forward P(first)=1.0, backward P(first)=0.5 -> candidate score (1.0 + (1 - 0.5)) / 2 = 0.75 on every pair.
    assert result["scores"] == [0.75] * 4 and result["wins"] == 4
    # Raw, it never prefers the second answer; its mean lean (0.75) cancels in the score, and read against it
    # the two orders agree on every pair: reliable.
    assert result["raw_first_position_rate"] == 1.0 and result["position_lean"] == 0.75
    assert result["verdicts"] == [["A", "B"]] * 4 and result["order_agreement"] == 1.0
    assert calibrate(result, 0.2, 0.4)["reliable"]


def test_a_logprob_judge_with_no_signal_beyond_its_lean_is_unreliable():
    class Lean:  # always P(first) = 0.9 whatever the answers
        def first_probability(self, messages: list[dict]) -> float:
            return 0.9

    judged = calibrate(judge_pairs(Lean(), [[{"role": "user", "content": "q"}]] * 4, ["x"] * 4, ["y"] * 4), 0.2, 0.4)
    assert judged["reliable"] is False and judged["win_rate"] == 0.5


@pytest.mark.parametrize("method", ["text", "logprob"])
def test_the_default_judge_is_the_served_base_in_the_evaluations_own_process(settings, tiny_adapter, eval_data,
                                                                              tmp_path, method):
    settings.judge = JudgeConfig(method=method)  # local, no model named: the base the evaluation already holds
    from skills.evaluate.run import evaluate_adapter

    doc = evaluate_adapter(settings, tiny_adapter, data=eval_data["eval"], out_dir=tmp_path / "rep", limit=4,
                           max_new_tokens=4)
    judged = doc["judge"]
    assert judged["judge"] == f"local:tiny (served base, {method})" and judged["n"] == 4
    assert {"first_position_rate", "order_agreement", "reliable"} <= set(judged)
    assert ("position_lean" in judged) == (method == "logprob")
    assert "first-position rate" in (tmp_path / "rep" / "report.md").read_text()


def test_a_served_logprob_judge_reads_the_servers_top_logprobs(settings, tiny_adapter, eval_data, tmp_path):
    # A llama.cpp-like server whose first token leans to "A" (P 0.6 vs 0.3, plus " A" 0.05) whatever it is shown:
    # all lean and no signal, so the judge is found unreliable (decides nothing once the lean is taken out).
    import math

    from skills.evaluate.run import evaluate_adapter

    with ScriptedOpenAI(lambda body: "A") as server:
        server.top_logprobs = lambda body: {"A": math.log(0.6), " A": math.log(0.05), "B": math.log(0.3),
                                            "TIE": math.log(0.05)}
        settings.judge = JudgeConfig(provider="openai", model="llama", base_url=server.url, method="logprob")
        doc = evaluate_adapter(settings, tiny_adapter, data=eval_data["eval"], out_dir=tmp_path / "rep", limit=4,
                               max_new_tokens=4)
    assert all(r["logprobs"] is True and r["max_tokens"] == 1 for r in server.requests) and len(server.requests) == 8
    judged = doc["judge"]
    assert judged["judge"] == "openai:llama (logprob)" and judged["position_lean"] == round(0.65 / 0.95, 4)
    assert judged["win_rate"] == pytest.approx(0.5) and judged["reliable"] is False
