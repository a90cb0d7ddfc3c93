"""Forgetting reaches derived data: rows built from forgotten messages leave every dataset file (harvests, the
nightly merge, the persona's harvested rows, splits, an adapter's kept copy), the manifests count them, and the
reply names the adapters trained on them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from agent.cli.main import app
from agent.router import Router
from config.messages import IncomingMessage
from config.settings import Settings
from config.workspace import open_workspace
from memory.store import Memory
from skills.dataset.harvest import harvest_channel
from skills.dataset.io import write_dataset
from skills.dataset.manifest import file_sha256, read_manifest
from skills.dataset.provenance import dataset_files, row_message_ids
from skills.dataset.split import split_file
from skills.retrain import RetrainOutcome, _accumulate, _merge_and_validate

MALLORY = "question from mallory"


def _converse(memory: Memory, say, channel: str, who: str, turns: int) -> list[str]:
    """`turns` exchanges of `who` with the pirate persona; returns the ids of their messages."""
    ids = []
    for i in range(turns):
        asked = memory.log_message(say(f"{i} {'question from ' + who} in {channel}", author=who, channel=channel))
        memory.log_message(say(f"arr, answer {i} to {who}", role="assistant", persona="pirate", channel=channel,
                               reply_to=asked.id))
        ids.append(asked.id)
    return ids


def _adapter(settings: Settings, adapter_id: str, dataset: Path, split_dir: Path) -> Path:
    """An adapter folder as the worker leaves it: the split it trained on kept in data/ (with the manifests)."""
    from skills.train.data import DataFiles
    from skills.train.runtime import _keep_split

    made = split_file(dataset, split_dir, eval_ratio=0.3)
    dest = settings.artifacts_dir / "adapters" / adapter_id
    tmp = dest.with_name(f".{dest.name}.tmp")
    tmp.mkdir(parents=True)
    data = _keep_split(DataFiles(Path(made["train"]["path"]), Path(made["eval"]["path"]), True), tmp, dest)
    manifest = {"base_model": "tiny", "method": "lora", "persona": "pirate", "dataset": str(dataset),
                "dataset_sha256": file_sha256(dataset), **data}
    (tmp / "manifest.json").write_text(json.dumps(manifest))
    tmp.rename(dest)
    return Path(data["train_dataset"]["path"])


def _everything(settings: Settings) -> bytes:
    return b"".join(p.read_bytes() for p in settings.artifacts_dir.rglob("*") if p.is_file())


def test_forgetting_a_harvested_and_trained_on_user(settings: Settings, say, tmp_path: Path) -> None:
    open_workspace(settings)
    memory = Memory(settings)
    for channel in ("general", "ops"):
        memory.set_consent(channel, True, "local")
    mallory = _converse(memory, say, "general", "mallory", 3)
    _converse(memory, say, "ops", "bob", 4)
    harvests = [harvest_channel(memory, c, persona="pirate").path for c in ("general", "ops")]
    memory.close()
    _accumulate(settings, "pirate", harvests)  # the nightly retrain's own steps: <persona>-harvested.jsonl ...
    merged = _merge_and_validate(settings, "pirate", RetrainOutcome(persona="pirate"))  # ... and the merged file
    trained = _adapter(settings, "pirate-lora/v1", merged, tmp_path / "split")
    _adapter(settings, "bob-lora/v1", harvests[1], tmp_path / "split-ops")  # never saw mallory's words
    in_training = {m for row in row_message_ids(trained) for m in row} & set(mallory)
    assert in_training and MALLORY.encode() in _everything(settings)

    router = Router(settings)
    asked = router.handle(IncomingMessage(transport="cli", channel="cli", user="local",
                                          text="!forget scope=user user=mallory"))
    assert asked.confirm, asked.text
    done = router.handle(IncomingMessage(transport="cli", channel="cli", user="local", text="yes"))

    assert done.ok and done.text.startswith("Forgot 3 messages of mallory in every channel"), done.text
    assert (f"Adapter pirate-lora/v1 was trained on {len(in_training)} of these messages: retrain pirate or delete "
            "the adapter.") in done.text
    assert "bob-lora" not in done.text
    assert MALLORY.encode() not in _everything(settings)  # harvest, harvested, merged, splits, the adapter's copy
    files = list(dataset_files(settings))
    assert len(files) >= 8
    for path in files:
        manifest = read_manifest(path)
        assert manifest.sha256 == file_sha256(path) and manifest.rows == len(path.read_text().splitlines())
        assert not {m for row in row_message_ids(path) for m in row} & set(mallory)
        assert not any(set(s.message_ids or []) & set(mallory) for s in manifest.sources)
    said = {path.name: read_manifest(path).forgotten for path in files}
    assert said[harvests[0].name] == 3 and said["pirate-harvested.jsonl"] == 3 and said[merged.name] == 3
    assert said[trained.name] == len(in_training) and said[harvests[1].name] is None


def test_memory_forget_expired_also_cleans_the_datasets(settings: Settings, say) -> None:
    memory = Memory(settings)
    old = memory.log_message(say("stale words", created_at=datetime.now(UTC) - timedelta(days=90)))
    fresh = memory.log_message(say("fresh words"))
    memory.close()
    dataset = settings.artifacts_dir / "datasets" / "hand-built.jsonl"
    rows = [{"messages": [{"role": "user", "content": t}, {"role": "assistant", "content": "ok"}]}
            for t in ("stale words", "fresh words")]
    write_dataset(rows, dataset, row_messages=[[old.id], [fresh.id]])
    (settings.home / "selftune.toml").write_text("[memory]\nretention_days = 30\n")

    result = CliRunner().invoke(app, ["memory", "forget", "--expired", "--json"])

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["datasets"]["files"][0]["removed"] == 1
    assert "stale" not in dataset.read_text() and "fresh words" in dataset.read_text()
    assert read_manifest(dataset).forgotten == 1 and read_manifest(dataset).row_messages == [[fresh.id]]
