"""hyper.max_seconds: a slow trainer stops at its time budget and still writes an adapter from the steps done."""

from __future__ import annotations

import io
import json
from pathlib import Path

from skills.train.events import EventEmitter, parse_events
from skills.train.runtime import StopFlag
from skills.train.worker import train
from tests.train.conftest import sft_rows, write_jsonl
from tests.train.helpers import make_spec


def test_a_slow_trainer_stops_at_its_budget_with_an_adapter(settings, tmp_path: Path) -> None:
    from skills.train.spec import TrainSpec

    data = write_jsonl(tmp_path / "data.jsonl", sft_rows(24))
    spec = TrainSpec.load(make_spec(tmp_path, data, max_steps=200, logging_steps=1, max_seconds=2.0))
    buf = io.StringIO()
    done = train(spec, EventEmitter(buf), settings.models_dir, StopFlag(), step_delay_s=0.5)  # ~0.5 s a step
    events = parse_events(buf.getvalue())
    steps = done["metrics"]["steps"]
    assert 1 <= steps < 20  # 2 s of 0.5 s steps, not 200
    assert any("time budget of 2 s reached" in e.get("message", "") for e in events)
    manifest = json.loads((Path(done["adapter_dir"]) / "manifest.json").read_text())
    assert (Path(done["adapter_dir"]) / "adapter_model.safetensors").is_file() and manifest
