"""The position-swapped LLM judge on persona answers: does it prefer the baseline's answers to the candidate's?

Markers say whether answers are in style; the judge says whether they are still good answers. A persona
proposal whose answers the judge significantly prefers less (the 95% Wilson interval of the candidate's
win rate lies below 0.5) is a regression, whatever the markers say, unless the judge itself is unreliable (its
first-position rate or the disagreement between its two orders beyond the eval.judge_* limits): then it is reported
and left out.
"""

from __future__ import annotations

from typing import Any

from improver.eval_config import EvalConfig


def judge_of(cfg: EvalConfig) -> Any | None:
    """The evaluator's judge provider, or None when judging is off (judge_provider = 'none')."""
    if cfg.judge_provider == "openai":
        from skills.providers.openai_compat import OpenAIProvider

        return OpenAIProvider(cfg.judge_model, base_url=cfg.judge_base_url, timeout_s=cfg.judge_timeout_s)
    if cfg.judge_provider == "ollama":
        from skills.providers.ollama_provider import OllamaProvider

        return OllamaProvider(cfg.judge_model, host=cfg.judge_base_url or "http://127.0.0.1:11434",  # from_settings fills it
                              timeout_s=cfg.judge_timeout_s)
    if cfg.judge_provider == "local":
        from skills.providers.local import LocalProvider

        return LocalProvider(cfg.judge_model, cfg.models_dir, timeout_s=cfg.judge_timeout_s, max_new_tokens=8)
    return None


def judge_regression(cfg: EvalConfig, prompts: list[str], base: list[str], cand: list[str]) -> tuple[dict | None, list[str]]:
    """(the judge's summary, regressions): candidate vs baseline answers, each pair asked in both orders."""
    from skills.evaluate.judge import calibrate, judge_pairs

    judge = judge_of(cfg)
    if judge is None:
        return None, []
    result = calibrate(judge_pairs(judge, [[{"role": "user", "content": p}] for p in prompts], cand, base),
                       cfg.judge_max_position_bias, cfg.judge_max_disagreement)
    keys = ("win_rate", "ci95", "n", "wins", "losses", "ties", "first_position_rate", "order_agreement", "reliable",
            "unreliable_reason")
    summary = {k: result[k] for k in keys if k in result}
    if not result["reliable"]:  # an unreliable judge never rejects a proposal by itself
        return summary, []
    low, high = result["ci95"]
    if high < 0.5:
        return summary, [f"the judge preferred the baseline's answers (candidate win rate {result['win_rate']:.2f}, "
                         f"95% CI {low:.2f}-{high:.2f})"]
    return summary, []
