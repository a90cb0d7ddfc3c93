"""How long a training job will take here, before it starts: optimizer steps and seconds on this device.

Steps come from the spec the way the trainer derives them (max_steps, else rows x epochs / effective
batch). Seconds per step are measured from earlier finished jobs on this machine with the same base, method and
length (the time between their progress events, plus their start-up time), given as a range; with none, the
configured `agent.train_step_s` stands in and the range is wide (a guess: 10.5 min once ran where it said 54 s).
"""

from __future__ import annotations

import json
import math
from itertools import pairwise
from pathlib import Path
from typing import Any, NamedTuple

from config.settings import Settings
from skills.train.spec import TrainSpec

GUESS_SPREAD = (0.5, 4.0)  # an unmeasured device: from twice as fast to four times slower than configured
MIN_SPREAD = 0.15  # measured step times still vary with load: at least ±15%


class JobEstimate(NamedTuple):
    """Optimizer steps, seconds per step (typical, fastest, slowest), start-up seconds, and their source."""

    steps: int
    step_s: float
    source: str  # "measured" (earlier jobs here) or "configured" (agent.train_step_s)
    low_step_s: float = 0.0
    high_step_s: float = 0.0
    startup_s: float = 0.0
    jobs: int = 0  # earlier jobs measured

    @property
    def seconds(self) -> float:
        """Total estimated seconds."""
        return self.startup_s + self.steps * self.step_s

    @property
    def range_s(self) -> tuple[float, float]:
        """The fastest and slowest total seconds to expect."""
        low = self.low_step_s or self.step_s * GUESS_SPREAD[0]
        high = self.high_step_s or self.step_s * GUESS_SPREAD[1]
        return self.startup_s + self.steps * low, self.startup_s + self.steps * high

    def sentence(self) -> str:
        """'about 45 steps, 6-9 min (measured here: 2 earlier jobs of smollm2 lora ...)' for previews."""
        low, high = self.range_s
        if self.source == "measured":
            how = f"measured here on {self.jobs} earlier job{'s' if self.jobs != 1 else ''} like it"
        else:
            how = "a guess from agent.train_step_s: no earlier job here with this base, method and length"
        return f"about {self.steps} steps, {duration_range(low, high)} ({self.step_s:.1f} s/step, {how})"


def duration(seconds: float) -> str:
    """Seconds for people: '40 s', '12 min', '1.5 h'."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def duration_range(low: float, high: float) -> str:
    """'6-9 min' when both ends share a unit, else '40 s-3 min'."""
    first, last = duration(low), duration(high)
    if first == last:
        return f"about {first}"
    same_unit = first.split()[-1] == last.split()[-1]
    return f"{first.split()[0]}–{last}" if same_unit else f"{first}–{last}"


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


class Measured(NamedTuple):
    """Per-step seconds of earlier jobs like this one (pooled intervals) and their start-up seconds."""

    step_times: list[float]
    startups: list[float]
    jobs: int


def _alike(job_spec: dict[str, Any], spec: TrainSpec) -> bool:
    """Same base, method and token length: what sets the cost of one step on a given device."""
    hyper = job_spec.get("hyper") or {}
    return (job_spec.get("base_model") == spec.base_model and job_spec.get("method") == spec.method
            and hyper.get("max_length", spec.hyper.max_length) == spec.hyper.max_length)


def _step_times(events: list[Any]) -> list[float]:
    """Seconds per step between consecutive progress events (time spent training, not loading)."""
    points = [(e.data["step"], e.ts) for e in events if e.event == "progress" and _int(e.data.get("step"))]
    return [(t2 - t1) / (s2 - s1) for (s1, t1), (s2, t2) in pairwise(points) if s2 > s1 and t2 >= t1]


def measure(settings: Settings, spec: TrainSpec, limit: int = 5) -> Measured:
    """Step times and start-up seconds of the newest `limit` succeeded jobs here with spec's base, method, length."""
    from skills.jobs.store import JobStore

    store = JobStore(settings)
    times: list[float] = []
    startups: list[float] = []
    jobs = 0
    try:
        for job in store.list(limit=200, states=frozenset({"succeeded"})):
            steps = _int(job.progress.get("step"))
            if jobs >= limit or not (_alike(job.spec, spec) and steps and job.started_at and job.finished_at):
                continue
            wall = job.finished_at - job.started_at
            per_step = _step_times(store.events(job.id)) or [wall / steps]  # no events: the whole run per step
            times += per_step
            startups.append(max(0.0, wall - steps * median(per_step)))
            jobs += 1
    finally:
        store.close()
    return Measured(times, startups, jobs)


def median(values: list[float]) -> float:
    """The middle value (the mean of the two middle ones)."""
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def estimate_job(settings: Settings, spec: TrainSpec) -> JobEstimate:
    """Steps and time on this device for `spec`, with the range to expect."""
    steps = estimate_steps(spec, count_rows(Path(spec.dataset)))
    found = measure(settings, spec)
    if not found.jobs:
        return JobEstimate(steps, settings.agent.train_step_s, "configured")
    typical = max(0.01, median(found.step_times))
    low = min(_quantile(found.step_times, 0.1), typical * (1 - MIN_SPREAD))
    high = max(_quantile(found.step_times, 0.9), typical * (1 + MIN_SPREAD))
    return JobEstimate(steps, typical, "measured", low, high, median(found.startups), found.jobs)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and value > 0 else None
