"""Early stopping: a run with an eval split evaluates every eval_steps, stops after early_stopping_patience
evaluations without a lower eval loss, and registers the best checkpoint (the manifest says which step and why)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.train.conftest import sft_rows, write_jsonl
from tests.train.helpers import make_spec, run_inprocess


def _contradicted(rows: list[dict]) -> list[dict]:
    """The same questions answered in words the training answers never use: the better the run learns its own
    answers, the higher its loss on these."""
    return [{"messages": [*r["messages"][:-1], {"role": "assistant", "content": "0123456789 quick brown dog JSON."}]}
            for r in rows]


def test_a_run_whose_eval_loss_rises_stops_early_and_registers_the_best_step(tmp_path: Path, tiny_model_dir: Path):
    train = write_jsonl(tmp_path / "train.jsonl", sft_rows(32, seed=1))
    held_out = write_jsonl(tmp_path / "eval.jsonl", _contradicted(sft_rows(8, seed=2)))
    spec = make_spec(tmp_path, train, max_steps=40, eval_steps=2, save_steps=50, early_stopping_patience=2,
                     learning_rate=3e-2)
    spec.write_text(json.dumps({**json.loads(spec.read_text()), "eval_dataset": str(held_out)}))
    rc, events = run_inprocess(spec, tiny_model_dir.parent)
    assert rc == 0, events
    # Before training, every eval_steps, and once more on the registered weights after training.
    *evals, (_, registered_loss) = [(e["step"], e["eval_loss"]) for e in events if e["event"] == "eval"]
    best_step, best_loss = min(evals, key=lambda x: x[1])
    assert best_step > 0 and evals[-1][1] > best_loss  # it fell, then rose
    manifest = json.loads((Path(events[-1]["adapter_dir"]) / "manifest.json").read_text())
    stopping = manifest["stopping"]
    # Stopped long before its 40 steps, two evaluations after the best one; the adapter is that best checkpoint.
    assert stopping["stopped"] == "early" and manifest["metrics"]["steps"] < 40
    assert stopping["adapter_step"] == best_step == manifest["metrics"]["adapter_step"]
    assert [s for s, _ in evals if s > best_step] == [best_step + 2, best_step + 4]
    assert f"did not improve for 2 evaluations after step {best_step}" in stopping["reason"]
    assert abs(registered_loss - best_loss) < 1e-4  # the registered weights are the best step's
    assert abs(manifest["metrics"]["eval_loss"] - registered_loss) < 1e-4
    assert any(e["event"] == "message" and "stopped early" in e["message"] for e in events)


def test_a_run_without_an_eval_split_never_stops_early(tmp_path: Path, tiny_model_dir: Path):
    data = write_jsonl(tmp_path / "data.jsonl", sft_rows(16))
    rc, events = run_inprocess(make_spec(tmp_path, data, max_steps=4, eval_split=0.0, early_stopping_patience=1),
                               tiny_model_dir.parent)
    assert rc == 0, events
    stopping = json.loads((Path(events[-1]["adapter_dir"]) / "manifest.json").read_text())["stopping"]
    assert stopping == {"adapter_step": 4, "stopped": "planned steps",
                        "reason": "ran all steps; no eval split, so no early stopping"}
