"""Metrics the evaluator measures, chosen by target kind, and the noise-aware comparison.

Each metric returns a `Measured`: a (repeats x items) score matrix for baseline and candidate, whether
higher is better, and any regressions found on secondary checks. `compare` turns that into a decision:
the candidate must beat the baseline by more than the baseline's noise (2 x the spread of repeated
measurements, or the 95% bootstrap half-width over held-out items, whichever is larger).
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from improver import holdout
from improver.answerers import make_answerer
from improver.eval_config import EvalConfig
from improver.skill_replay import ReplayItem
from skills.evaluate.gate import bootstrap_noise
from skills.personas import load_persona
from skills.train.adapters import served_in


@dataclass
class Measured:
    """Raw scores of one metric on both sides."""

    name: str
    base: np.ndarray  # shape (repeats, items)
    cand: np.ndarray
    higher_is_better: bool = True
    regressions: list[str] = field(default_factory=list)
    measured_on: str = ""  # the model that produced the scores
    served_on: str = ""  # the model users are served (differs when an eval base was set)
    data: str = ""  # which held-out data was used, e.g. "the default held-out set ... (no own data)"
    judge: dict | None = None  # the position-swapped judge's summary (persona proposals)


class Comparison(BaseModel):
    """Baseline vs candidate, with the noise floor; delta > 0 means better whatever the direction."""

    metric: str
    baseline: float
    candidate: float
    noise: float
    delta: float
    improved: bool


def noise_floor(base: np.ndarray, resamples: int = 1000, seed: int = 0) -> float:
    """max(2 x std of repeat means, the 95% bootstrap half-width of the item-mean) of the baseline."""
    repeat_means = base.mean(axis=1)
    spread = 2 * float(np.std(repeat_means, ddof=1)) if len(repeat_means) > 1 else 0.0
    return max(spread, bootstrap_noise(base.mean(axis=0), rounds=resamples, seed=seed))


def compare(measured: Measured, resamples: int = 1000) -> Comparison:
    """Decide whether the candidate beats the baseline by more than the noise."""
    base, cand = float(measured.base.mean()), float(measured.cand.mean())
    delta = (cand - base) if measured.higher_is_better else (base - cand)
    noise = noise_floor(measured.base, resamples)
    return Comparison(metric=measured.name, baseline=base, candidate=cand, noise=noise, delta=delta,
                      improved=delta > noise and np.isfinite(cand))


# ---- persona: format adherence of answers to held-out prompts -------------------------------------------

def adherence_matrix(answers: list[list[str]], markers: list[str]) -> np.ndarray:
    """1.0 where an answer contains any marker (case-insensitive)."""
    lowered = [m.lower() for m in markers]
    return np.array([[float(any(m in a.lower() for m in lowered)) for a in row] for row in answers])


def persona_metric(cfg: EvalConfig, base_dir: Path, cand_dir: Path, name: str) -> Measured:
    """Format adherence (the BASELINE card's style.any_of markers) of the served model's answers to held-out
    prompts, with the answers' length and the position-swapped judge as regression checks."""
    from improver.judging import judge_regression

    base_card, cand_card = load_persona(base_dir, name), load_persona(cand_dir, name)
    if not base_card.style.any_of:
        raise MetricUnavailable(f"persona '{name}' has no style.any_of markers to measure")
    prompts = holdout.persona_prompts(cfg.holdout_dir, name, cfg.max_prompts)
    served, model = _served_model(cfg, base_dir, name)
    # Locally the served adapter is loaded onto its base; an answer server serves whatever it serves.
    local_adapter = _adapter_dir(cfg, served) if served and cfg.answerer == "local" else None
    base_ans, cand_ans = _answers(cfg, model, local_adapter, [base_card.system_prompt, cand_card.system_prompt],
                                  prompts)
    measured = Measured("format_adherence", adherence_matrix(base_ans, base_card.style.any_of),
                        adherence_matrix(cand_ans, base_card.style.any_of),
                        measured_on=f"{served} on {model}" if served else model,
                        served_on=f"{served} on {model}" if served else model,
                        data=holdout.persona_source(cfg.holdout_dir, name))
    measured.regressions.extend(_length_regression(base_ans, cand_ans, base_card.style.max_chars, cfg))
    measured.judge, judged = judge_regression(cfg, prompts, base_ans[0], cand_ans[0])
    measured.regressions.extend(judged)
    return measured


def _answers(cfg: EvalConfig, model: str, adapter: Path | None, systems: list[str],
             prompts: list[str]) -> list[list[list[str]]]:
    """Per system prompt, per repeat: the answers. The local model answers on the GPU box with executor ray."""
    from improver.on_worker import measure, on_worker

    seeds = list(range(cfg.repeats))
    if cfg.answerer == "local" and on_worker(cfg):
        knobs = {"max_new_tokens": cfg.max_new_tokens, "temperature": cfg.temperature}
        return measure(cfg, "answers", {"systems": systems, "prompts": prompts, "seeds": seeds, "cfg": knobs},
                       base_model=model, adapters=(adapter, None))
    answer = make_answerer(cfg.model_copy(update={"base_model": model}), adapter)
    return [[answer(system, prompts, seed) for seed in seeds] for system in systems]


def _length_regression(base: list[list[str]], cand: list[list[str]], max_chars: int, cfg: EvalConfig) -> list[str]:
    within = Measured("length_ok", np.array([[float(len(a) <= max_chars) for a in r] for r in base]),
                      np.array([[float(len(a) <= max_chars) for a in r] for r in cand]))
    result = compare(within, cfg.bootstrap)
    if -result.delta > result.noise:
        return [f"answers within {max_chars} chars fell from {result.baseline:.2f} to {result.candidate:.2f}"]
    return []


# ---- recipe: held-out loss after a short training run on the served base model -----------------------------

def recipe_metric(cfg: EvalConfig, base_dir: Path, cand_dir: Path, name: str) -> Measured:
    """Held-out loss after cfg.train_steps steps with each side's hyperparameters (lower is better), on the
    served base model (or the eval base, if one is set) and the held-out rows of the personas using the recipe."""
    recipes = [_recipe(root, name) for root in (base_dir, cand_dir)]
    served = recipes[0].base_model or cfg.base_model
    model = cfg.measured_base(served)
    train_rows, eval_rows, source = holdout.recipe_rows_for(cfg.holdout_dir, name, _personas_using(base_dir, name))
    sides = [np.array(side) for side in _recipe_losses(cfg, recipes, train_rows, eval_rows, model)]
    measured = Measured("heldout_loss", sides[0], sides[1], higher_is_better=False, measured_on=model,
                        served_on=served, data=source)
    if not np.all(np.isfinite(sides[1])):
        measured.regressions.append("the candidate's training diverged (non-finite loss)")
    return measured


def _recipe_losses(cfg: EvalConfig, recipes: list, train_rows: list[dict], eval_rows: list[dict],
                   model: str) -> list[list[list[float]]]:
    """Per recipe, per repeat: held-out losses after the short run; on the GPU box with executor ray."""
    from improver.on_worker import measure, on_worker

    seeds = list(range(cfg.repeats))
    if on_worker(cfg):
        payload = {"recipes": [r.model_dump(mode="json") for r in recipes], "seeds": seeds, "train_rows": train_rows,
                   "eval_rows": eval_rows, "cfg": {"train_steps": cfg.train_steps,
                                                   "train_max_length": cfg.train_max_length}}
        return measure(cfg, "recipe_losses", payload, base_model=model)
    from improver.short_train import heldout_losses

    return [[heldout_losses(cfg, recipe, train_rows, eval_rows, seed, model) for seed in seeds] for recipe in recipes]


# ---- adapter: held-out loss with each side's served adapter --------------------------------------------

def adapter_metric(cfg: EvalConfig, base_dir: Path, cand_dir: Path, name: str) -> Measured:
    """Per-item held-out loss of every persona whose served adapter the proposal changes (lower is better)."""
    base_served, cand_served = served_in(base_dir), served_in(cand_dir)
    changed = sorted(p for p in base_served.keys() | cand_served.keys() if base_served.get(p) != cand_served.get(p))
    if not changed:
        raise MetricUnavailable("the proposal serves the same adapters as before")
    if cfg.artifacts_dir is None:
        raise MetricUnavailable("the evaluator does not know where adapters live (artifacts_dir)")
    base_losses: list[float] = []
    cand_losses: list[float] = []
    for persona in changed:
        rows = [r["messages"] for r in holdout.adapter_rows(cfg.holdout_dir, persona)]
        ids = (base_served.get(persona), cand_served.get(persona))
        base_side, cand_side = _adapter_losses(cfg, _base_model_of(cfg, ids), ids, rows)
        base_losses += base_side
        cand_losses += cand_side
    return Measured("adapter_heldout_loss", np.array([base_losses]), np.array([cand_losses]), higher_is_better=False)


# ---- skill: how many of the owner's requests reach what they ended up running -----------------------------

def skill_metric(cfg: EvalConfig, base_dir: Path, cand_dir: Path, name: str) -> Measured:
    """Replay consented requests of the last cfg.replay_days and the evaluator-only holdout/skills/ set through
    the router (dry run) on both checkouts: 1 per request that reaches the skill and arguments the person ran,
    with no extra question. A request that reached them before and no longer does vetoes the proposal."""
    from config.errors import ConfigError
    from improver.skill_replay import composed_specs, reaches, resolver_factory
    from improver.skill_traffic import replay_items

    try:
        factory = resolver_factory(cfg.skill_resolver)
    except ConfigError as exc:
        raise MetricUnavailable(str(exc).rstrip(".")) from None
    base_resolve, cand_resolve = factory(base_dir), factory(cand_dir)
    logged = replay_items(cfg.state_db, cfg.replay_days, cfg.rephrase_window_s, base_resolve)
    held = [ReplayItem.model_validate({**r, "source": "holdout"}) for r in holdout.skill_requests(cfg.holdout_dir)]
    items = logged + held
    if not items:
        raise MetricUnavailable(f"no consented request of the last {cfg.replay_days:g} days and no holdout/skills/ "
                                "set to replay")
    base_specs, cand_specs = composed_specs(base_dir), composed_specs(cand_dir)
    base = np.array([[float(reaches(base_resolve(i.text), base_specs, i.actions)) for i in items]])
    cand = np.array([[float(reaches(cand_resolve(i.text), cand_specs, i.actions)) for i in items]])
    measured = Measured("skill_resolution", base, cand, data=f"{len(logged)} logged request(s) of the last "
                        f"{cfg.replay_days:g} days and {len(held)} held-out (holdout/skills/)")
    lost = [i for i, b, c in zip(items, base[0], cand[0], strict=True) if b and not c]
    if lost:
        measured.regressions.append(_lost_sentence(lost))
    return measured


def _lost_sentence(lost: list) -> str:
    """Held-out texts are never quoted: the journal's reasons reach the generator."""
    shown = [f"'{i.text[:60]}'" for i in lost if i.source == "log"][:2]
    return (f"{len(lost)} request(s) that reached their skill before no longer do"
            + (f", e.g. {', '.join(shown)}" if shown else ""))


def _served_model(cfg: EvalConfig, root: Path, persona: str) -> tuple[str | None, str]:
    """(served adapter id or None, its base model): what answers the persona's users today."""
    served = served_in(root).get(persona) if cfg.artifacts_dir else None
    return served, _base_model_of(cfg, (served, None)) if served else cfg.base_model


def _recipe(root: Path, name: str):  # noqa: ANN202 - skills.train.spec.Recipe, imported lazily
    from skills.train.spec import Recipe

    return Recipe.model_validate(tomllib.loads((root / "recipes" / f"{name}.toml").read_text(encoding="utf-8")))


def _personas_using(root: Path, recipe: str) -> list[str]:
    """Personas of a checkout whose card trains with this recipe."""
    from skills.personas import list_personas

    return [p for p in list_personas(root) if load_persona(root, p).recipe == recipe]


def _adapter_dir(cfg: EvalConfig, adapter_id: str) -> Path:
    folder = Path(cfg.artifacts_dir or ".") / "adapters" / adapter_id
    if not (folder / "adapter_config.json").is_file():
        raise MetricUnavailable(f"adapter {adapter_id} is not in the registry ({folder})")
    return folder


def _base_model_of(cfg: EvalConfig, ids: tuple[str | None, str | None]) -> str:
    """Both sides are judged on the base the adapters were trained on (from a manifest), else cfg.base_model."""
    import json

    for adapter_id in ids:
        if adapter_id:
            manifest = _adapter_dir(cfg, adapter_id) / "manifest.json"
            if manifest.is_file():
                return str(json.loads(manifest.read_text(encoding="utf-8")).get("base_model") or cfg.base_model)
    return cfg.base_model


def _adapter_losses(cfg: EvalConfig, base_model: str, ids: tuple[str | None, str | None],
                    rows: list) -> list[list[float]]:
    """Per side (an adapter id, or None for the bare base): per-row held-out losses; on the GPU box with ray."""
    from improver.on_worker import measure, on_worker

    folders = [_adapter_dir(cfg, i) if i else None for i in ids]
    if on_worker(cfg):
        sides = [field if folder else None for field, folder in zip(("adapter", "against_adapter"), folders, strict=True)]
        return measure(cfg, "adapter_losses", {"rows": rows, "sides": sides}, base_model=base_model,
                       adapters=(folders[0], folders[1]))
    return [losses_with_adapter(cfg.models_dir, base_model, folder, rows) for folder in folders]


def losses_with_adapter(models_dir: Path, base_model: str, adapter: Path | None, rows: list) -> list[float]:
    """Per-row held-out loss of `base_model` with the adapter folder on it (or bare)."""
    from skills.evaluate.heldout import item_losses
    from skills.models import load_model

    model, tokenizer = load_model(base_model, models_dir)
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter)).eval()
    return item_losses(model, tokenizer, rows)


class MetricUnavailable(Exception):
    """This target cannot be measured (no markers, no data); the evaluator rejects by default."""


MetricFn = Callable[[EvalConfig, Path, Path, str], Measured]
# The evaluator looks metrics up by target kind; other parts may register theirs here.
METRICS: dict[str, MetricFn] = {"persona": persona_metric, "recipe": recipe_metric, "adapter": adapter_metric,
                                "skill": skill_metric}
