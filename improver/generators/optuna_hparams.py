"""Hyperparameter search for a recipe with Optuna: each trial is one proposal; the study lives in SQLite.

The study (`<home>/improver_optuna.db`, one study per recipe) survives restarts. A trial's value is the
evaluator's measured candidate held-out loss; crashed or unmeasured trials are told as failed. The search
space is cut from `improver.bounds` (the fine-tuning guides' bounds), so no trial can leave them.
"""

from __future__ import annotations

import tomllib
from typing import Any

import optuna
import tomlkit

from config.settings import Settings
from config.workspace import open_workspace
from improver.bounds import bounds_for
from improver.journal import JournalEntry
from improver.proposals import Draft

RANKS = [4, 8, 16, 32, 64]  # candidates; only those inside the method's rank bound are offered
ALPHA_PER_RANK = 2  # alpha = 2r, the guides' usual choice (inside r..4r)


class OptunaRecipeGenerator:
    """Asks an Optuna study for the next learning rate / LoRA rank of a recipe."""

    name = "optuna"

    def __init__(self, settings: Settings, seed: int = 0) -> None:
        self.settings = settings
        self.storage = f"sqlite:///{settings.home / 'improver_optuna.db'}"
        self.seed = seed
        self._pending: dict[str, tuple[optuna.Study, int]] = {}
        optuna.logging.set_verbosity(optuna.logging.WARNING)

    def study(self, recipe: str) -> optuna.Study:
        """The persistent study of one recipe (minimises held-out loss)."""
        return optuna.create_study(study_name=f"recipe-{recipe}", storage=self.storage, direction="minimize",
                                   sampler=optuna.samplers.TPESampler(seed=self.seed), load_if_exists=True)

    def propose(self, target: str, history: list[JournalEntry]) -> Draft | None:
        """The next trial's hyperparameters written into recipes/<name>.toml."""
        kind, _, name = target.partition(":")
        if kind != "recipe":
            return None
        rel = f"recipes/{name}.toml"
        text = open_workspace(self.settings).read(rel)
        study = self.study(name)
        trial = study.ask()
        values = suggest(trial, tomllib.loads(text).get("method", "lora"))
        draft = Draft(target=target, changes={rel: set_hyper(text, values)}, generator=self.name,
                      rationale=f"Optuna trial {trial.number}: {values}", meta={"trial": trial.number})
        self._pending[target] = (study, trial.number)
        return draft

    def feedback(self, proposal: Any, verdict: Any) -> None:
        """Tell the study the trial's measured held-out loss (or that it failed)."""
        study, number = self._pending.pop(proposal.target, (None, None))
        if study is None:
            return
        if verdict.candidate is None or verdict.verdict == "crash":
            study.tell(number, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(number, verdict.candidate)


def suggest(trial: optuna.Trial, method: str) -> dict[str, Any]:
    """A trial's learning rate (and LoRA rank with alpha = 2r), drawn inside the method's bounds."""
    bounds = bounds_for(method)
    # Optuna samples in [low, high]; set_hyper writes 3 significant digits, so the bounds are narrowed by that rounding.
    low, high = bounds.learning_rate
    values: dict[str, Any] = {"learning_rate": trial.suggest_float("learning_rate", low * 1.005, high * 0.995, log=True)}
    if method in ("lora", "qlora") and bounds.rank is not None:
        ranks = [r for r in RANKS if bounds.rank[0] <= r <= bounds.rank[1]]
        values["rank"] = trial.suggest_categorical("rank", ranks)
        values["alpha"] = ALPHA_PER_RANK * values["rank"]
    return values


def set_hyper(text: str, values: dict[str, Any]) -> str:
    """The recipe text with [hyper] keys set through tomlkit, so comments, order and layout are kept."""
    doc = tomlkit.parse(text)
    if "hyper" not in doc:
        doc["hyper"] = tomlkit.table()
    hyper = doc["hyper"]
    for key, value in values.items():
        # 3 significant digits: the bounds in suggest() are narrowed by exactly this rounding.
        hyper[key] = float(f"{value:.3g}") if isinstance(value, float) else value
    return tomlkit.dumps(doc)
