"""Bounds no recipe proposal may leave, from the fine-tuning guides (PEFT/TRL docs, QLoRA paper, Unsloth's guide).

LoRA and QLoRA (and DPO/KTO, which train a LoRA adapter here) learn at 1e-5..5e-4 (2e-4 is the usual
default); full fine-tuning at 5e-6..5e-5; the rank r at 4..128; alpha between r and 4r (scale 1..4);
1..5 epochs. The evaluator checks every recipe proposal against this table before measuring it, and the
Optuna search space is cut from it, so an out-of-bounds value is never trained, measured or merged.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class HyperBounds(BaseModel):
    """Closed intervals a recipe's hyperparameters must stay inside, for one family of methods."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    learning_rate: tuple[float, float] = Field(description="Peak learning rate (min, max).")
    rank: tuple[int, int] | None = Field(None, description="LoRA rank r (min, max); None when no adapter is trained.")
    alpha_per_rank: tuple[float, float] | None = Field(None, description="alpha / r (min, max): alpha from r to 4r.")
    epochs: tuple[float, float] = Field((1.0, 5.0), description="Passes over the data (min, max).")


ADAPTER = HyperBounds(learning_rate=(1e-5, 5e-4), rank=(4, 128), alpha_per_rank=(1.0, 4.0))
FULL = HyperBounds(learning_rate=(5e-6, 5e-5))
# Every method a recipe may name; full fine-tuning updates all weights, the others train a LoRA adapter.
BOUNDS: dict[str, HyperBounds] = {"lora": ADAPTER, "qlora": ADAPTER, "dpo": ADAPTER, "kto": ADAPTER, "full": FULL}


def bounds_for(method: str) -> HyperBounds:
    """The bounds of a recipe method (adapter bounds for methods this table does not name)."""
    return BOUNDS.get(method, ADAPTER)


def bound_problems(recipe: Any) -> list[str]:
    """One sentence per hyperparameter of the recipe outside its method's bounds (empty when all are inside)."""
    b, h, method = bounds_for(recipe.method), recipe.hyper, recipe.method
    problems = _outside("learning_rate", h.learning_rate, b.learning_rate, method)
    if h.max_steps is None or h.max_steps <= 0:  # epochs only count when max_steps does not override them
        problems += _outside("epochs", h.epochs, b.epochs, method)
    if b.rank is not None and b.alpha_per_rank is not None:
        problems += _outside("rank", h.rank, b.rank, method)
        low, high = b.alpha_per_rank
        problems += _outside("alpha", h.alpha, (low * h.rank, high * h.rank), method, note=f" (r to 4r for r={h.rank})")
    return problems


def _outside(name: str, value: float, bound: tuple[float, float], method: str, note: str = "") -> list[str]:
    low, high = bound
    if low <= value <= high:
        return []
    return [f"{name} {value:g} is outside the {method} bound {low:g}..{high:g}{note} from the fine-tuning guides"]
