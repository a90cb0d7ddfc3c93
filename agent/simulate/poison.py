"""The poisoned night's generator and the bounded improver round the simulation runs each night.

On the poisoned night a compromised generator proposes the persona's recipe with hyperparameters far outside
the fine-tuning bounds (improver/bounds.py); the evaluator must refuse it before anything is trained.
"""

from __future__ import annotations

import re
from typing import Any

from config.settings import Settings
from config.workspace import open_workspace
from improver.journal import JournalEntry
from improver.proposals import Draft

BAD_LEARNING_RATE = 0.5  # a thousand times the LoRA default (2e-4): it would wreck any adapter


class OutOfBoundsRecipe:
    """A compromised generator: sets the recipe's learning rate to 0.5 and its epochs to 50."""

    name = "simulated-poisoner"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def propose(self, target: str, history: list[JournalEntry]) -> Draft | None:
        """The recipe with out-of-bounds learning rate and epochs."""
        kind, _, name = target.partition(":")
        if kind != "recipe":
            return None
        path = f"recipes/{name}.toml"
        text = open_workspace(self.settings).read(path)
        text = re.sub(r"(?m)^learning_rate = .*$", f"learning_rate = {BAD_LEARNING_RATE}", text)
        text = re.sub(r"(?m)^epochs = .*$", "epochs = 50", text)
        text = re.sub(r"(?m)^max_steps = .*$", "max_steps = -1", text)
        return Draft(target=target, changes={path: text}, generator=self.name,
                     rationale="learn the community's taste faster")

    def feedback(self, proposal: Any, verdict: Any) -> None:
        """Nothing to learn."""


def improver_round(settings: Settings, persona: str, targets: list[str], poisoned: bool) -> tuple[Any, list[dict]]:
    """One round over the scheduled targets (plus the persona's recipe from the poisoner on the poisoned night),
    then the regression check; returns the run summary and the rollbacks' notifications."""
    from improver.loop import Loop, RunSummary, default_generator, stop_reason
    from improver.regressions import find_and_roll_back
    from skills.personas import load_persona

    targets = list(targets or [f"persona:{persona}"])
    if poisoned:
        targets.append(f"recipe:{load_persona(settings.workspace_dir, persona).recipe}")

    def generator_for(target: str) -> Any:
        if poisoned and target.startswith("recipe:"):
            return OutOfBoundsRecipe(settings)
        return default_generator(settings, target)

    reason = stop_reason(settings)
    summary = None if reason else Loop(settings, generator_for=generator_for).run(rounds=1, targets=targets)
    rollbacks = [n for r in find_and_roll_back(settings) for n in r.notifications()]
    return summary or RunSummary(notes=[reason or ""]), rollbacks
