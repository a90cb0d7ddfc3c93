"""The improver's measurements that load a model, as jobs on the GPU box when `executor.kind = "ray"`.

A recipe's short training runs, a persona's answers by the local model (the served adapter on its base) and
adapters' held-out losses run as `python -m improver.measure_job` on the `trainer` resource; the host ships the
rows, prompts, recipes and adapter folders, and gets back numbers and texts only, so it never loads a model.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from improver.eval_config import EvalConfig

MEASURE_WORKER = ["-m", "improver.measure_job"]
TIMEOUT_S = 3600.0


def on_worker(cfg: EvalConfig) -> bool:
    """Whether this evaluator's model work goes to the GPU box."""
    return cfg.executor == "ray"


def measure(cfg: EvalConfig, task: str, payload: dict[str, Any], *, base_model: str,
            adapters: tuple[Path | None, Path | None] = (None, None)) -> Any:
    """Run one measurement `task` as a job on the executor and wait; its result (JSON) comes back.

    `adapters`: up to two adapter folders shipped with the job (as its adapter and against_adapter)."""
    from skills.jobs.heavy import result_of_job

    settings = _settings(cfg)
    stamp = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    spec: dict[str, Any] = {"kind": "measure", "task": task, "name": f"measure-{task}", "version": stamp,
                            "base_model": base_model, "payload": payload,
                            "output_dir": str(settings.artifacts_dir / "measurements" / f"{task}-{stamp}")}
    for field, folder in zip(("adapter", "against_adapter"), adapters, strict=True):
        if folder is not None:
            spec[field] = str(folder)
    return result_of_job(settings, spec, worker=MEASURE_WORKER, executor=cfg.executor, requester="improver",
                         timeout_s=TIMEOUT_S)


def _settings(cfg: EvalConfig) -> Any:
    """The settings of the state dir the evaluator belongs to (executor address, job store)."""
    from config.settings import load_settings

    settings = load_settings(home=cfg.home) if cfg.home else load_settings()
    return settings.model_copy(update={"executor": settings.executor.model_copy(update={"kind": cfg.executor})})
