"""Real evaluation of a tiny-model adapter: held-out loss, batched generation, adherence, forgetting, report."""

from __future__ import annotations

import json
from pathlib import Path

from skills.evaluate.run import evaluate_adapter


def test_trained_adapter_lowers_heldout_loss_and_writes_report(settings, tiny_adapter: Path, eval_data, tmp_path):
    doc = evaluate_adapter(settings, tiny_adapter, data=eval_data["eval"], out_dir=tmp_path / "rep",
                           max_new_tokens=12, use_judge=False)
    held = doc["heldout"]
    # A random 64-wide model has near-uniform logits, so LoRA moves the loss modestly but on every item.
    assert held["candidate"]["loss"] < held["against"]["loss"] - 0.2
    assert all(c < a for c, a in zip(held["candidate_items"], held["against_items"], strict=True))
    assert doc["against"] == "base" and doc["items"] == 8
    assert len(doc["samples"]) == 8 and all({"prompt", "against", "candidate"} <= set(s) for s in doc["samples"])
    assert set(doc["adherence"]) == {"candidate", "against"}  # the manifest names the pirate persona
    assert doc["forgetting"]["max_drop"] == 0.1 and doc["judge"] is None
    assert doc["forgetting"]["instruction_items"] == doc["forgetting"]["accuracy_items"] == 12  # eval.forgetting_items
    assert "instruction following" in Path(doc["report"]["markdown"]).read_text()
    assert doc["gate"]["reason"].endswith(".")
    written = json.loads(Path(doc["report"]["json"]).read_text())
    assert written["heldout"]["candidate_items"] == held["candidate_items"]
    assert Path(doc["report"]["png"]).read_bytes()[:4] == b"\x89PNG"
    assert "held-out loss" in Path(doc["report"]["markdown"]).read_text()


def test_forgetting_is_measured_against_the_base_model_also_when_compared_with_another_adapter(
        settings, tiny_adapter: Path, eval_data, tmp_path):
    # Measured against the served adapter, every promotion could lose up to the limit again and a week of them
    # compounds; so the candidate's general ability is always set against the base model's.
    kwargs = {"data": eval_data["eval"], "max_new_tokens": 4, "use_judge": False}
    vs_base = evaluate_adapter(settings, tiny_adapter, out_dir=tmp_path / "a", **kwargs)["forgetting"]
    vs_itself = evaluate_adapter(settings, tiny_adapter, against=str(tiny_adapter), out_dir=tmp_path / "b",
                                 **kwargs)["forgetting"]
    assert vs_itself["base_loss"] == vs_base["base_loss"]
    assert vs_itself["adapter_loss"] == vs_base["adapter_loss"] != vs_itself["base_loss"]
