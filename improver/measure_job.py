"""`python -m improver.measure_job SPEC.json`: one of the improver's model measurements, run where the model is
(the GPU box's `trainer` resource, via improver.on_worker); writes result.json into the spec's output_dir and
emits JSON-line events like the other jobs. The base model is resolved here, from this node's models/ and cache."""

from __future__ import annotations

import json
import logging
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from config.errors import SelftuneError
from improver.eval_config import EvalConfig
from skills.train.events import EventEmitter, run_spec_job

log = logging.getLogger("improver.measure_job")


def _cfg(spec: dict[str, Any]) -> EvalConfig:
    """An evaluator config for this node: its own models_dir, the host's measurement knobs."""
    from config.settings import load_settings

    here = Path.cwd()
    knobs = spec["payload"].get("cfg", {})
    return EvalConfig(workspace=here, holdout_dir=here, models_dir=load_settings().models_dir,
                      base_model=spec["base_model"], **knobs)


def recipe_losses(spec: dict[str, Any]) -> list[list[list[float]]]:
    """Per recipe, per seed: held-out losses after the short training run."""
    from improver.short_train import heldout_losses
    from skills.train.spec import Recipe

    cfg, payload = _cfg(spec), spec["payload"]
    return [[heldout_losses(cfg, Recipe.model_validate(recipe), payload["train_rows"], payload["eval_rows"], seed,
                            spec["base_model"]) for seed in payload["seeds"]] for recipe in payload["recipes"]]


def answers(spec: dict[str, Any]) -> list[list[list[str]]]:
    """Per system prompt, per seed: the local model's answers (the shipped adapter on its base, if any)."""
    from improver.answerers import make_answerer

    cfg, payload = _cfg(spec).model_copy(update={"answerer": "local"}), spec["payload"]
    answer = make_answerer(cfg, Path(spec["adapter"]) if spec.get("adapter") else None)
    return [[answer(system, payload["prompts"], seed) for seed in payload["seeds"]] for system in payload["systems"]]


def adapter_losses(spec: dict[str, Any]) -> list[list[float]]:
    """Per side (the shipped adapter, the against_adapter, or None for the bare base): per-row held-out losses."""
    from improver.metrics import losses_with_adapter

    cfg = _cfg(spec)
    return [losses_with_adapter(cfg.models_dir, spec["base_model"], Path(spec[side]) if side else None,
                                spec["payload"]["rows"]) for side in spec["payload"]["sides"]]


TASKS: dict[str, Callable[[dict[str, Any]], Any]] = {"recipe_losses": recipe_losses, "answers": answers,
                                                     "adapter_losses": adapter_losses}


def run(spec: dict[str, Any], emitter: EventEmitter) -> dict[str, Any]:
    """Measure, then rename the folder with result.json into place (complete when it appears)."""
    if spec.get("task") not in TASKS:
        raise SelftuneError(f"Unknown measurement '{spec.get('task')}'; this worker knows {', '.join(TASKS)}.")
    emitter.emit("start", max_steps=0, kind="measure")
    emitter.message(f"measuring {spec['task']} on {spec['base_model']}")
    result = TASKS[spec["task"]](spec)
    out = Path(spec["output_dir"])
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    (tmp / "result.json").write_text(json.dumps({"task": spec["task"], "result": result}), encoding="utf-8")
    (tmp / "manifest.json").write_text(json.dumps({"kind": "measurement", "task": spec["task"]}), encoding="utf-8")
    tmp.replace(out)
    return {"adapter_dir": str(out), "metrics": {"task": spec["task"]}}


def main(argv: list[str] | None = None) -> int:
    """Exit 0 with a `done` event, 1 with an `error` event (one sentence)."""
    argv = sys.argv[1:] if argv is None else argv
    return run_spec_job(argv, run, lambda exc: f"The improver's measurement failed on the worker ({type(exc).__name__}: {exc}).")

if __name__ == "__main__":
    sys.exit(main())
