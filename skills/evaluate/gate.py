"""Promotion gate: a candidate is promoted only if it beats the current model by more than the measured
noise (a bootstrap over eval items) and passes the forgetting check."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict


class Verdict(BaseModel):
    """The gate's decision with a one-sentence reason users can read."""

    model_config = ConfigDict(extra="forbid")
    promote: bool
    reason: str
    metric: str
    delta: float
    noise: float


def bootstrap_noise(values: Sequence[float], *, rounds: int = 1000, seed: int = 0) -> float:
    """Half-width of the 95% bootstrap interval of the mean of `values` (the measured noise).

    The one bootstrap of the project: the promotion gate and the improver's noise floor both use it.
    """
    items = np.asarray(values, dtype=float)
    if len(items) < 2:
        return float("inf")
    rng = np.random.default_rng(seed)
    means = items[rng.integers(0, len(items), size=(rounds, len(items)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(high - low) / 2


def bootstrap_difference(a: Sequence[float], b: Sequence[float], *, rounds: int = 1000,
                         seed: int = 0) -> tuple[float, float]:
    """(mean(a) - mean(b), half-width of its 95% bootstrap interval), each sample resampled on its own
    (two independent groups, e.g. the 👍 of two adapters' answers)."""
    first, second = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(first) < 2 or len(second) < 2:
        return (float(first.mean() - second.mean()) if len(first) and len(second) else 0.0), float("inf")
    rng = np.random.default_rng(seed)
    diffs = (first[rng.integers(0, len(first), size=(rounds, len(first)))].mean(axis=1)
             - second[rng.integers(0, len(second), size=(rounds, len(second)))].mean(axis=1))
    low, high = np.percentile(diffs, [2.5, 97.5])
    return float(first.mean() - second.mean()), float(high - low) / 2


def _moved(rise: float) -> str:
    return f"rose {rise:.0%}" if rise >= 0 else f"fell {-rise:.0%}"


def _forgetting_veto(forgetting: dict[str, Any] | None) -> Verdict | None:
    if not forgetting or not forgetting.get("flagged"):
        return None
    if forgetting.get("instruction_flagged"):  # named first: persona training erodes it before facts
        was, now = forgetting["base_instruction_following"], forgetting["adapter_instruction_following"]
        return Verdict(
            promote=False, metric="instruction_following", delta=round(now - was, 4),
            noise=forgetting["instruction_noise"],
            reason=(f"candidate forgets how to follow instructions: it followed {now:.0%} of "
                    f"{forgetting['instruction_items']} checkable instructions vs {was:.0%} for the base model, a drop "
                    f"of {forgetting['instruction_drop']:.0%} beyond the noise (±{forgetting['instruction_noise']:.0%}, "
                    f"limit {forgetting['max_drop']:.0%}); its accuracy went from {_share(forgetting['base_accuracy'])} "
                    f"to {_share(forgetting['adapter_accuracy'])}."),
        )
    return Verdict(
        promote=False, metric="forgetting", delta=-max(forgetting["accuracy_drop"], forgetting["loss_rise"]),
        noise=forgetting.get("accuracy_noise") or 0.0,
        reason=(f"candidate forgets general ability: vs the base model, accuracy fell {forgetting['accuracy_drop']:.0%} "
                f"and answer loss {_moved(forgetting['loss_rise'])} (limit {forgetting['max_drop']:.0%})."),
    )


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def gate_on_judge(scores: list[float], forgetting: dict[str, Any] | None = None, seed: int = 0) -> Verdict:
    """Judge scores per item (1 win, 0.5 tie, 0 loss for the candidate): promote if the win rate beats 50% + noise."""
    veto = _forgetting_veto(forgetting)
    if veto:
        return veto
    win = sum(scores) / len(scores) if scores else 0.0
    noise = bootstrap_noise(scores, seed=seed)
    delta = win - 0.5
    if delta > noise:
        reason = f"candidate won {win:.0%} vs {1 - win:.0%} of judged pairs (noise ±{noise:.0%})."
    elif delta < 0:
        reason = f"candidate lost {win:.0%} vs {1 - win:.0%} of judged pairs."
    else:
        reason = f"candidate won {win:.0%} vs {1 - win:.0%}, within the measured noise (±{noise:.0%})."
    return Verdict(promote=delta > noise, reason=reason, metric="judge_win_rate", delta=round(delta, 4), noise=round(noise, 4))


def gate_on_loss(candidate: list[float], current: list[float], forgetting: dict[str, Any] | None = None,
                 seed: int = 0) -> Verdict:
    """Per-item held-out losses (lower is better) on the same items: promote if the mean gain beats the noise."""
    veto = _forgetting_veto(forgetting)
    if veto:
        return veto
    gains = [cur - cand for cand, cur in zip(candidate, current, strict=True)]
    gain = sum(gains) / len(gains)
    noise = bootstrap_noise(gains, seed=seed)
    cand_mean, cur_mean = sum(candidate) / len(candidate), sum(current) / len(current)
    if gain > noise:
        reason = f"candidate's held-out loss {cand_mean:.3f} beats {cur_mean:.3f} by more than the noise (±{noise:.3f})."
    elif gain < -noise:
        reason = f"candidate's held-out loss {cand_mean:.3f} is worse than the current {cur_mean:.3f}."
    else:
        reason = f"candidate's held-out loss {cand_mean:.3f} vs {cur_mean:.3f} is within the measured noise (±{noise:.3f})."
    return Verdict(promote=gain > noise, reason=reason, metric="heldout_loss", delta=round(gain, 6), noise=round(noise, 6))


def _overlap_veto(eval_data: dict[str, Any] | None) -> Verdict | None:
    """Refuse to promote on data the adapter trained on: the measurement would flatter it."""
    found = (eval_data or {}).get("overlap") or {}
    if not found.get("rows"):
        return None
    eval_path, train_path = eval_data["eval"]["path"], found["train_file"]
    return Verdict(
        promote=False, metric="overlap", delta=0.0, noise=0.0,
        reason=(f"{found['rows']} of {found['of']} eval rows in {eval_path} repeat training rows of {train_path} "
                "(exact or near duplicate prompts), so the result is not a held-out measurement; evaluate on data "
                "the adapter never saw (--data PATH) or retrain with a separate eval split."),
    )


def _style_veto(adherence: dict[str, Any] | None, seed: int = 0) -> Verdict | None:
    """Refuse a candidate that keeps the persona's style on fewer of the same prompts than the current model,
    beyond the noise: a better loss bought by drifting out of the persona (say, trained on a flood of off-persona
    answers someone liked) is no gain for the persona's users."""
    cand, cur = ((adherence or {}).get(side, {}).get("items") for side in ("candidate", "against"))
    if not cand or not cur or len(cand) != len(cur):
        return None
    gains = [int(a) - int(b) for a, b in zip(cand, cur, strict=True)]
    gain, noise = sum(gains) / len(gains), bootstrap_noise(gains, seed=seed)
    if gain >= -noise:
        return None
    return Verdict(
        promote=False, metric="style", delta=round(gain, 4), noise=round(noise, 4),
        reason=(f"candidate keeps the persona's style in {sum(cand)} of {len(cand)} answers vs {sum(cur)} for the "
                f"current model, a drop beyond the noise (±{noise:.0%})."),
    )


def trusted_judge(report: dict[str, Any]) -> dict[str, Any] | None:
    """The report's judge result when the gate may use it: it ran, scored pairs and was not found unreliable
    (position bias or disagreement between orders beyond the eval.judge_* limits)."""
    judge = report.get("judge")
    if judge and judge.get("scores") and judge.get("reliable", True):
        return judge
    return None


def _untrusted_note(report: dict[str, Any]) -> str:
    """A sentence for the verdict when a judge ran but was left out."""
    judge = report.get("judge")
    if not judge or judge.get("reliable", True):
        return ""
    name = judge.get("judge", "the judge")
    return f" The judge ({name}) was left out as unreliable: {judge.get('unreliable_reason')}."


def _measured_rows(report: dict[str, Any]) -> int:
    """How many rows the deciding measurement rests on: the judged pairs, else the deciding held-out set's."""
    judge = trusted_judge(report)
    if judge:
        return len(judge["scores"])
    held = report.get("holdout") or report["heldout"]
    return len(held["candidate_items"])


def _evidence_veto(report: dict[str, Any], min_rows: int) -> Verdict | None:
    """No verdict on a handful of rows: their bootstrap noise is itself a guess, so a 'win' would be luck."""
    rows = _measured_rows(report)
    if rows >= min_rows:
        return None
    return Verdict(
        promote=False, metric="evidence", delta=0.0, noise=0.0,
        reason=(f"only {rows} held-out rows were measured and a verdict needs at least {min_rows} (eval.min_rows), "
                f"so the current model stays; evaluate on more rows (--limit {min_rows} or more, with eval data "
                "that has them)."),
    )


def decide(report: dict[str, Any], seed: int = 0, min_rows: int = 1, max_forgetting: float | None = None) -> Verdict:
    """Gate an evaluation report: never on overlapping data, a drift out of the persona's style, forgotten general
    ability or instruction following, or fewer than `min_rows` measured rows (callers pass eval.min_rows and
    eval.max_forgetting, which re-judges a forgetting check measured elsewhere); then the judge's scores when a
    judge ran and was not found unreliable, else held-out losses (the evaluator-only set's when there is one).
    An unreliable judge never blocks or passes a candidate: the verdict says it was left out and why."""
    forgetting = report.get("forgetting")
    if forgetting and max_forgetting is not None:
        from skills.evaluate.forgetting import judged

        forgetting = report["forgetting"] = judged(forgetting, max_forgetting)
    veto = (_overlap_veto(report.get("eval_data")) or _style_veto(report.get("adherence"), seed)
            or _forgetting_veto(forgetting) or _evidence_veto(report, min_rows))
    if veto:
        return veto
    judge = trusted_judge(report)
    if judge:
        return gate_on_judge(judge["scores"], forgetting, seed)
    # The persona's evaluator-only set decides when it exists: no training, not even a past served adapter's,
    # ever saw it, and its answers are the owner's, not the served model's own harvested words.
    held = report.get("holdout") or report["heldout"]
    verdict = gate_on_loss(held["candidate_items"], held["against_items"], forgetting, seed)
    if report.get("holdout") and verdict.metric == "heldout_loss":
        verdict.metric, verdict.reason = "holdout_loss", f"evaluator-only set: {verdict.reason}"
    verdict.reason += _untrusted_note(report)
    return verdict
