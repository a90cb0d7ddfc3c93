"""The promotion gate: clear wins pass; within-noise changes and forgetting are rejected."""

from __future__ import annotations

import random

from skills.evaluate.gate import bootstrap_noise, decide, gate_on_judge, gate_on_loss

OK = {"flagged": False, "accuracy_drop": 0.0, "loss_rise": 0.01, "max_drop": 0.1}
FORGOT = {"flagged": True, "accuracy_drop": 0.25, "loss_rise": 0.3, "max_drop": 0.1}


def _noisy(mean: float, n: int = 40, seed: int = 0) -> list[float]:
    rng = random.Random(seed)
    return [mean + rng.gauss(0, 0.3) for _ in range(n)]


def test_clear_loss_win_is_promoted():
    current = _noisy(2.0)
    candidate = [x - 0.5 for x in current]
    verdict = gate_on_loss(candidate, current, OK)
    assert verdict.promote and verdict.metric == "heldout_loss" and "beats" in verdict.reason


def test_change_within_noise_is_rejected():
    current = _noisy(2.0, seed=1)
    candidate = [c + (0.3 if i % 2 else -0.32) for i, c in enumerate(current)]  # mean gain 0.01, spread 0.3
    verdict = gate_on_loss(candidate, current, OK)
    assert not verdict.promote and "within the measured noise" in verdict.reason
    assert verdict.noise > abs(verdict.delta)


def test_forgetting_vetoes_even_a_clear_win():
    current = _noisy(2.0)
    verdict = gate_on_loss([x - 0.5 for x in current], current, FORGOT)
    assert not verdict.promote and verdict.metric == "forgetting" and "forgets" in verdict.reason
    # Accuracy alone can flag it; an answer loss that went down reads as such.
    fell = gate_on_loss([x - 0.5 for x in current], current, {**FORGOT, "loss_rise": -0.07}).reason
    assert "vs the base model" in fell and "answer loss fell 7%" in fell and "rose -" not in fell


def test_judge_loss_reads_as_one_sentence():
    scores = [1.0] * 41 + [0.0] * 59
    verdict = gate_on_judge(scores, OK)
    assert not verdict.promote and verdict.reason == "candidate lost 41% vs 59% of judged pairs."


def test_judge_clear_win_and_narrow_win():
    assert gate_on_judge([1.0] * 80 + [0.0] * 20, OK).promote
    assert not gate_on_judge([1.0] * 11 + [0.0] * 9, OK).promote  # 55% of 20 is noise


def test_decide_prefers_the_judge_when_it_ran():
    report = {"heldout": {"candidate_items": [1.0, 1.0], "against_items": [2.0, 2.1]},
              "judge": {"scores": [0.0] * 10}, "forgetting": OK}
    assert decide(report).metric == "judge_win_rate"
    report["judge"] = None
    assert decide(report).metric == "heldout_loss"


def test_bootstrap_noise_is_deterministic_and_shrinks_with_more_items():
    few, many = _noisy(0.0, 10), _noisy(0.0, 400)
    assert bootstrap_noise(few) == bootstrap_noise(few)
    assert bootstrap_noise(many) < bootstrap_noise(few)


def test_the_evaluator_only_set_decides_over_the_eval_split():
    """Harvested eval rows are the served model's own words (they flatter it); the owner's evaluator-only set,
    which nothing ever trained on, decides when it exists."""
    current = _noisy(2.0)
    report = {"heldout": {"candidate_items": [x - 0.5 for x in current], "against_items": current},
              "holdout": {"candidate_items": [x + 0.5 for x in current], "against_items": current},
              "judge": None, "forgetting": OK}
    verdict = decide(report)
    assert not verdict.promote and verdict.metric == "holdout_loss" and verdict.reason.startswith("evaluator-only set:")
    report["holdout"] = {"candidate_items": [x - 0.5 for x in current], "against_items": current}
    assert decide(report).promote
    del report["holdout"]
    assert decide(report).metric == "heldout_loss"


def test_a_drift_out_of_the_persona_style_is_refused_even_with_a_better_loss():
    """The poisoned night's shape: a flood of liked off-persona answers lowers the loss but breaks the style."""
    current = _noisy(2.0)
    report = {"heldout": {"candidate_items": [x - 0.5 for x in current], "against_items": current},
              "adherence": {"candidate": {"items": [True, False, False, False, True, False, False, False]},
                            "against": {"items": [True] * 8}},
              "judge": None, "forgetting": OK}
    verdict = decide(report)
    assert not verdict.promote and verdict.metric == "style"
    assert verdict.reason.startswith("candidate keeps the persona's style in 2 of 8 answers vs 8")
    report["adherence"]["candidate"]["items"] = [True] * 7 + [False]  # one answer off: within the noise
    assert decide(report).promote
    del report["adherence"]
    assert decide(report).promote


def test_four_rows_give_no_promote_verdict_and_say_what_to_do():
    """A clear loss win on 4 rows is still no evidence: below eval.min_rows the gate keeps the current model."""
    current = _noisy(2.0, n=4)
    report = {"heldout": {"candidate_items": [x - 0.5 for x in current], "against_items": current},
              "judge": None, "forgetting": OK}
    verdict = decide(report, min_rows=16)
    assert not verdict.promote and verdict.metric == "evidence"
    assert verdict.reason.startswith("only 4 held-out rows were measured and a verdict needs at least 16")
    assert "eval.min_rows" in verdict.reason and "--limit 16" in verdict.reason and "\n" not in verdict.reason
    assert decide(report, min_rows=4).promote  # the same rows pass once the bar is theirs
    report["judge"] = {"scores": [1.0] * 20}  # twenty judged pairs are twenty rows of evidence
    assert decide(report, min_rows=16).promote
