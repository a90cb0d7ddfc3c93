"""'Retrain with new data' proposals: serving a better adapter is accepted, a worse one rejected.

(The tiny test model is random, so almost any training lowers its loss; "worse" is judged against a
served adapter that learned the task.)"""

from __future__ import annotations

from pathlib import Path

from config.settings import Settings
from config.workspace import open_workspace
from improver import holdout
from improver.eval_config import EvalConfig
from improver.evaluator import evaluate
from improver.proposals import Draft, create_proposal
from skills.train.adapters import set_served
from tests.eval.conftest import train_adapter

SERVED = "adapters/served.toml"


def off_target_rows() -> list[dict]:
    """Rows teaching something else entirely: an adapter trained on them does worse on the held-out answers."""
    return [{"messages": [{"role": "user", "content": f"Count {i}"},
                          {"role": "assistant", "content": "0123456789 " * 6}]} for i in range(8)]


def propose_serving(settings: Settings, adapter_id: str) -> str:
    ws = open_workspace(settings)
    text = set_served(ws.read(SERVED), "pirate", adapter_id)
    return create_proposal(settings, ws, Draft(target="adapter:pirate", changes={SERVED: text},
                                               generator="retrain", rationale="secret")).branch


def test_better_adapter_accepted_worse_rejected(settings: Settings, eval_cfg: EvalConfig, tiny_model_dir: Path) -> None:
    adapters = settings.artifacts_dir / "adapters" / "pirate-lora"
    train_rows, _ = holdout.recipe_rows(settings.holdout_dir, "default")  # the evaluator holds out the rest
    train_adapter(tiny_model_dir, train_rows, adapters / "v1", steps=40)
    train_adapter(tiny_model_dir, off_target_rows(), adapters / "v2", steps=40)

    good = evaluate(eval_cfg, propose_serving(settings, "pirate-lora/v1"))
    assert good.verdict == "accept", good
    ws = open_workspace(settings)  # v1 is served now (what the loop's merge does)
    ws.write(SERVED, set_served(ws.read(SERVED), "pirate", "pirate-lora/v1"))
    ws.commit("serve pirate-lora/v1")
    bad = evaluate(eval_cfg, propose_serving(settings, "pirate-lora/v2"))
    assert bad.verdict == "reject" and "adapter_heldout_loss" in bad.reason, bad
    missing = evaluate(eval_cfg, propose_serving(settings, "pirate-lora/v9"))
    assert missing.verdict == "reject" and "not in the registry" in missing.reason
