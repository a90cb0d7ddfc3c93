"""Adapter registry: register (a finished folder), list, promote, rollback to the exact previous adapter."""

from __future__ import annotations

import json

import pytest

from config.errors import NotFound, UsageError
from skills.train import adapters


def fake_adapter(settings, name: str, version: str, persona: str = "pirate") -> str:
    """A registered adapter folder as the worker leaves it (manifest.json marks it complete)."""
    folder = settings.artifacts_dir / "adapters" / name / version
    folder.mkdir(parents=True)
    manifest = {"name": name, "version": version, "base_model": "tiny", "method": "lora", "persona": persona,
                "metrics": {"eval_loss": 1.0}, "parent": None, "created_at": "2026-11-24T00:00:00+00:00"}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return f"{name}/{version}"


def test_list_and_get(settings) -> None:
    for v in ("v1", "v2", "v10"):
        fake_adapter(settings, "pirate-lora", v)
    (settings.artifacts_dir / "adapters" / "pirate-lora" / ".v11.tmp").mkdir()  # half-written: invisible
    assert [a.id for a in adapters.list_adapters(settings)] == ["pirate-lora/v1", "pirate-lora/v2", "pirate-lora/v10"]
    assert adapters.get_adapter(settings, "pirate-lora").version == "v10"
    with pytest.raises(NotFound, match="no adapter 'nope/v1'"):
        adapters.get_adapter(settings, "nope/v1")


def test_promote_and_rollback_restore_exact_previous(settings) -> None:
    a, b, c = (fake_adapter(settings, "pirate-lora", v) for v in ("v1", "v2", "v3"))
    other = fake_adapter(settings, "helper-lora", "v1", persona="assistant")
    assert adapters.served_adapter(settings, "pirate") is None
    adapters.promote(settings, "pirate", a)
    adapters.promote(settings, "assistant", other)
    adapters.promote(settings, "pirate", b)
    adapters.promote(settings, "pirate", c)
    assert adapters.served_adapter(settings, "pirate").id == c
    assert adapters.get_adapter(settings, c).served_for == ["pirate"]

    assert adapters.rollback(settings, "pirate")["to"] == b
    assert adapters.rollback(settings, "pirate")["to"] == a
    assert adapters.served_map(settings) == {"pirate": a, "assistant": other}
    result = adapters.rollback(settings, "pirate")
    assert result["to"] is None and adapters.served_adapter(settings, "pirate") is None
    with pytest.raises(UsageError, match="no promotion to roll back"):
        adapters.rollback(settings, "pirate")
    assert adapters.rollback(settings, "pirate", to=b)["to"] == b
    log = [c.message.splitlines()[0] for c in adapters.open_workspace(settings).repo.iter_commits(paths="adapters/served.toml")]
    assert log[0] == "rollback pirate: (none) -> pirate-lora/v2"


def test_promote_unknown_adapter_is_refused(settings) -> None:
    with pytest.raises(NotFound):
        adapters.promote(settings, "pirate", "ghost/v1")
    assert adapters.served_map(settings) == {}


def test_one_served_writer_for_promote_and_proposals(settings) -> None:
    from config.workspace import open_workspace

    a, b = (fake_adapter(settings, "pirate-lora", v) for v in ("v1", "v2"))
    adapters.promote(settings, "pirate", a)
    ws = open_workspace(settings)
    proposed = adapters.set_served(ws.read(adapters.SERVED), "pirate", b)  # what the improver's retrain drafts
    assert proposed.startswith("# persona = adapter id") and f'pirate = "{b}"' in proposed and a not in proposed
    assert "assistant" not in adapters.set_served(proposed, "assistant", None)
    assert adapters.set_served("", "pirate", a).splitlines()[1:] == [f'pirate = "{a}"']


def test_versions_count_folders_already_on_disk(settings) -> None:
    from skills.train.versions import peek_version, reserve_version

    fake_adapter(settings, "pirate-lora", "v7")  # trained before versions were reserved in SQLite
    assert peek_version(settings, "pirate-lora") == "v8"
    assert reserve_version(settings, "pirate-lora") == "v8" and peek_version(settings, "pirate-lora") == "v9"
    with pytest.raises(UsageError, match="already exists"):
        reserve_version(settings, "pirate-lora", "v7")
