"""'promote the pirate adapter' in chat: an admin sees the evaluation gate's verdict first and the adapter is
served only after a yes ("promote it anyway" when the gate did not pass); a member is refused before anything
is evaluated. Real evaluations of LoRA adapters on the tiny model."""

from __future__ import annotations

import json

import pytest

from agent.router import Router
from config.messages import IncomingMessage
from config.settings import Settings
from config.workspace import open_workspace
from skills.train import adapters
from tests.eval.conftest import pirate_rows, train_adapter, write_jsonl


def _adapter(settings: Settings, tiny_model_dir, version: str, steps: int) -> str:
    """pirate-lora/<version> trained `steps` steps (0: LoRA B at zero, it answers as the base), with eval data."""
    folder = settings.artifacts_dir / "adapters" / "pirate-lora" / version
    folder.parent.mkdir(parents=True, exist_ok=True)
    train_adapter(tiny_model_dir, pirate_rows(24, 1), folder, steps=steps)
    (settings.artifacts_dir / "datasets").mkdir(parents=True, exist_ok=True)
    data = write_jsonl(settings.artifacts_dir / "datasets" / "pirate-eval.jsonl", pirate_rows(8, 2))
    manifest = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps({**manifest, "name": "pirate-lora", "version": version,
                                                      "eval_dataset": str(data)}))
    return f"pirate-lora/{version}"


def _say(router: Router, text: str, user: str) -> str:
    return router.handle(IncomingMessage(transport="discord", channel="ops", user=user, text=text)).text


@pytest.mark.timeout(600)
def test_promote_in_chat_shows_the_verdict_and_waits_for_a_yes(settings: Settings, tiny_model_dir) -> None:
    open_workspace(settings)
    settings.eval.min_rows = 4  # the tiny adapters' eval split has 8 rows
    settings.auth.admins.append("discord:1")
    settings.auth.trainers.append("discord:2")
    router = Router(settings)
    untrained = _adapter(settings, tiny_model_dir, "v1", steps=0)

    assert "'promote' needs the 'admin' permission" in _say(router, "promote the pirate adapter", "2")
    asked = _say(router, "promote pirate-lora/v1", "1")
    assert asked.startswith(f"The evaluation gate did not pass {untrained} against the base model:") and \
        "Promote it anyway" in asked, asked
    assert adapters.served_map(settings) == {}
    assert _say(router, "no", "1") == "OK, I did nothing." and adapters.served_map(settings) == {}

    trained = _adapter(settings, tiny_model_dir, "v2", steps=60)
    asked = _say(router, "promote the pirate adapter", "1")  # the persona's newest adapter
    assert asked.startswith(f"The evaluation gate passed {trained} against the base model:"), asked
    assert adapters.served_map(settings) == {}  # nothing is served before the yes
    done = _say(router, "yes", "1")
    assert f"`{trained}` passed the evaluation gate and now serves the pirate persona" in done, done
    assert adapters.served_map(settings) == {"pirate": trained}

    asked = _say(router, f"promote {untrained} anyway", "1")
    assert "without the evaluation gate" in asked and adapters.served_map(settings) == {"pirate": trained}
    assert "the evaluation gate was skipped on purpose" in _say(router, "yes", "1")
    assert adapters.served_map(settings) == {"pirate": untrained}
