"""Running the worker in-process (fast) for tests that do not need a real process."""

from __future__ import annotations

import io
from pathlib import Path

from skills.train.events import EventEmitter, parse_events
from skills.train.runtime import StopFlag
from skills.train.spec import Hyper, TrainSpec, sha256_file

FAST = {"learning_rate": 1e-2, "batch_size": 4, "max_length": 256, "eval_steps": 50, "save_steps": 50,
        "logging_steps": 2, "eval_split": 0.2, "warmup_ratio": 0.0}


def make_spec(tmp: Path, data: Path, method: str = "lora", **hyper) -> Path:
    spec = TrainSpec(
        name=f"test-{method}", base_model="tiny", method=method, dataset=data, dataset_sha256=sha256_file(data),
        output_dir=tmp / "adapters" / f"test-{method}" / "v1", hyper=Hyper(**{**FAST, **hyper}),
    )
    return spec.save(tmp / f"spec-{method}.json")


def run_inprocess(spec_path: Path, models_dir: Path) -> tuple[int, list[dict]]:
    from skills.train.worker import run

    buf = io.StringIO()
    rc = run(spec_path, EventEmitter(buf), StopFlag(), models_dir=models_dir)
    return rc, parse_events(buf.getvalue())
