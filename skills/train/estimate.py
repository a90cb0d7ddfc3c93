"""How long a training job will take here, before it starts: optimizer steps and seconds on this device.

Steps come from the spec the way the trainer derives them (max_steps, else rows x epochs / effective
batch); seconds per step are measured from the last finished job on this machine when there is one,
else the configured `agent.train_step_s`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, NamedTuple

from config.settings import Settings
from skills.train.spec import TrainSpec


class JobEstimate(NamedTuple):
    """Optimizer steps, seconds per step, and where that per-step figure came from."""

    steps: int
    step_s: float
    source: str  # "measured" (an earlier job here) or "configured" (agent.train_step_s)

    @property
    def seconds(self) -> float:
        """Total estimated seconds."""
        return self.steps * self.step_s


def count_rows(path: Path) -> int:
    """Rows in a JSONL file (non-empty lines) or a JSON array; 0 when unreadable."""
    try:
        if path.suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
            return len(data) if isinstance(data, list) else 0
        with path.open(encoding="utf-8", errors="replace") as handle:
            return sum(1 for line in handle if line.strip())
    except (OSError, ValueError):
        return 0


def estimate_steps(spec: TrainSpec, rows: int) -> int:
    """Optimizer steps: max_steps when set, else ceil(train rows / (batch x grad_accum)) x epochs."""
    hyper = spec.hyper
    if hyper.max_steps > 0:
        return hyper.max_steps
    train_rows = max(1, round(rows * (1 - hyper.eval_split)))
    per_epoch = math.ceil(train_rows / (hyper.batch_size * hyper.grad_accum))
    return max(1, math.ceil(per_epoch * hyper.epochs))


def measured_step_s(settings: Settings) -> float | None:
    """Wall seconds per step of the newest succeeded job on this machine (loading included), if any."""
    from skills.jobs.store import JobStore

    store = JobStore(settings)
    try:
        for job in store.list(limit=20, states=frozenset({"succeeded"})):
            step = _int(job.progress.get("step"))
            if job.started_at and job.finished_at and step:
                return max(0.01, (job.finished_at - job.started_at) / step)
    finally:
        store.close()
    return None


def estimate_job(settings: Settings, spec: TrainSpec) -> JobEstimate:
    """Steps and time on this device for `spec`."""
    steps = estimate_steps(spec, count_rows(Path(spec.dataset)))
    measured = measured_step_s(settings)
    if measured is not None:
        return JobEstimate(steps, measured, "measured")
    return JobEstimate(steps, settings.agent.train_step_s, "configured")


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and value > 0 else None
