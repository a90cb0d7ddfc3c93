"""KTO (TRL's KTOTrainer) trains a LoRA adapter on liked/disliked answers of the tiny model, and its loss falls."""

from __future__ import annotations

import json
import random
from pathlib import Path

from tests.train.conftest import PIRATE, write_jsonl
from tests.train.helpers import make_spec, run_inprocess


def kto_rows(n: int, seed: int = 0) -> list[dict]:
    """Pirate answers liked, plain ones disliked: the unpaired rows 👍/👎 feedback becomes."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        q, a = rng.choice(PIRATE)
        liked = i % 2 == 0
        rows.append({"messages": [{"role": "user", "content": q},
                                  {"role": "assistant", "content": a if liked else "The quick brown fox. 0123456789"}],
                     "label": liked})
    return rows


def test_kto_lowers_its_loss(tmp_path: Path, tiny_model_dir: Path) -> None:
    data = write_jsonl(tmp_path / "kto.jsonl", kto_rows(32))
    rc, events = run_inprocess(make_spec(tmp_path, data, method="kto", max_steps=10, learning_rate=5e-3),
                               tiny_model_dir.parent)
    assert rc == 0, events
    losses = [e["loss"] for e in events if e["event"] == "progress"]
    assert len(losses) >= 3 and losses[-1] < losses[0] - 0.05, losses
    metrics = events[-1]["metrics"]
    assert metrics["eval_loss"] < metrics["base_eval_loss"], metrics
    manifest = json.loads((Path(events[-1]["adapter_dir"]) / "manifest.json").read_text())
    assert manifest["method"] == "kto" and manifest["eval_dataset"]["rows"] > 0


def test_kto_refuses_rows_without_a_label(tmp_path: Path, tiny_model_dir: Path) -> None:
    rows = kto_rows(8)
    rows[3].pop("label")
    data = write_jsonl(tmp_path / "kto.jsonl", rows)
    rc, events = run_inprocess(make_spec(tmp_path, data, method="kto", max_steps=2), tiny_model_dir.parent)
    assert rc == 1 and events[-1]["event"] == "error"
    assert "line 4" in events[-1]["message"] or "row 4" in events[-1]["message"], events[-1]
