"""The pairwise judge through skills.providers against a scripted OpenAI-compatible server."""

from __future__ import annotations

import pytest

from config.settings import JudgeConfig
from skills.evaluate.judge import judge_pairs, judge_provider, parse_verdict, wilson_interval
from tests.eval.fake_openai import ScriptedOpenAI

PROMPTS = [[{"role": "user", "content": f"question {i}"}] for i in range(4)]


def _answers(messages: list[dict]) -> tuple[str, str]:
    body = messages[-1]["content"]
    a = body.split("## Answer A\n")[1].split("\n\n## Answer B")[0]
    b = body.split("## Answer B\n")[1].split("\n\nVerdict")[0]
    return a, b


def _judge(settings, server):
    settings.judge = JudgeConfig(provider="openai", model="judge-model", base_url=server.url)
    return judge_provider(settings)


def test_position_swap_cancels_a_judge_that_always_picks_the_first_answer(settings):
    with ScriptedOpenAI(lambda body: "A") as server:
        result = judge_pairs(_judge(settings, server), PROMPTS, ["good"] * 4, ["bad"] * 4)
    assert result["win_rate"] == 0.5 and result["ties"] == 4 and result["first_position_rate"] == 1.0
    # Each item was asked twice, the candidate shown first then second.
    shown = [_answers(r["messages"]) for r in server.requests]
    assert shown == [("good", "bad"), ("bad", "good")] * 4
    assert all(r["model"] == "judge-model" and r["temperature"] == 0.0 for r in server.requests)


def test_consistent_judge_scores_exact_wins_losses_and_ties(settings):
    # Prefers the answer containing "best"; with neither, always says A (order bias) -> a tie after swapping.
    def prefer_best(body):
        a, b = _answers(body["messages"])
        return "A" if "best" in a else "B" if "best" in b else "A"

    candidate = ["best", "meh", "best", "meh"]
    other = ["meh", "best", "meh", "meh"]
    with ScriptedOpenAI(prefer_best) as server:
        result = judge_pairs(_judge(settings, server), PROMPTS, candidate, other)
    assert result["scores"] == [1.0, 0.0, 1.0, 0.5]
    assert result["verdicts"] == [["A", "B"], ["B", "A"], ["A", "B"], ["A", "A"]]
    assert (result["wins"], result["losses"], result["ties"]) == (2, 1, 1)
    assert result["win_rate"] == pytest.approx(0.625)
    low, high = result["ci95"]
    assert low < 0.625 < high


def test_unreachable_judge_is_one_clear_sentence(settings):
    settings.judge = JudgeConfig(provider="openai", model="m", base_url="http://127.0.0.1:9/v1", timeout_s=2)
    from config.errors import SelftuneError

    with pytest.raises(SelftuneError, match="Cannot reach"):
        judge_pairs(judge_provider(settings), PROMPTS[:1], ["x"], ["y"])


@pytest.mark.parametrize(("text", "verdict"), [("A", "A"), (" b.", "B"), ("Tie", "TIE"), ("Answer B is better", "B"), ("", "TIE")])
def test_parse_verdict(text, verdict):
    assert parse_verdict(text) == verdict


def test_wilson_interval_known_value():
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-3) and high == pytest.approx(0.9433, abs=1e-3)
