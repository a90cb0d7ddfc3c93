"""Adapter registry: finished adapters under artifacts/adapters/<name>/<version>/ (each with manifest.json),
and which one each persona serves in the workspace's adapters/served.toml (every change a git commit).

Adapter ids are "<name>/<version>", e.g. "pirate-lora/v3".
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import tomllib
from pathlib import Path
from typing import Any

import tomlkit
from pydantic import BaseModel, ConfigDict

from config.errors import NotFound, UsageError
from config.names import is_adapter_id, shown
from config.workspace import open_workspace
from skills.personas import require_persona

log = logging.getLogger(__name__)

SERVED = "adapters/served.toml"
_PROMOTE = re.compile(r"^(promote|rollback) (?P<persona>\S+): (?P<old>\S+) -> (?P<new>\S+)")
NONE = "(none)"


class AdapterInfo(BaseModel):
    """One registered adapter, as listed to users."""

    model_config = ConfigDict(extra="forbid")
    id: str
    name: str
    version: str
    path: str
    base_model: str
    method: str
    persona: str | None = None
    created_at: str | None = None
    metrics: dict[str, Any] = {}
    parent: str | None = None
    served_for: list[str] = []
    runtime: dict[str, Any] | None = None  # what trained it: backend (unsloth | trl+peft), device, dtype


def adapters_root(settings: Any) -> Path:
    return settings.artifacts_dir / "adapters"


def _info(path: Path, served: dict[str, str]) -> AdapterInfo:
    manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    adapter_id = f"{path.parent.name}/{path.name}"
    return AdapterInfo(
        id=adapter_id, name=path.parent.name, version=path.name, path=str(path),
        base_model=manifest.get("base_model", "?"), method=manifest.get("method", "?"),
        persona=manifest.get("persona"), created_at=manifest.get("created_at"),
        metrics=manifest.get("metrics") or {}, parent=manifest.get("parent"), runtime=manifest.get("runtime"),
        served_for=sorted(p for p, a in served.items() if a == adapter_id),
    )


def _version_key(path: Path) -> tuple[str, int]:
    digits = re.sub(r"\D", "", path.name)
    return path.parent.name, int(digits) if digits else 0


def list_adapters(settings: Any, name: str | None = None) -> list[AdapterInfo]:
    """Complete adapters (folders with manifest.json), oldest version first within each name."""
    served = served_map(settings)
    pattern = f"{name}/*/manifest.json" if name else "*/*/manifest.json"
    folders = sorted((m.parent for m in adapters_root(settings).glob(pattern)), key=_version_key)
    return [_info(folder, served) for folder in folders]


def get_adapter(settings: Any, adapter_id: str) -> AdapterInfo:
    """One adapter by id ("name/version"; a bare name means its newest version)."""
    found = _lookup(settings, adapter_id) if is_adapter_id(adapter_id) else None  # never a path outside
    if found is not None:
        return found
    known = ", ".join(a.id for a in list_adapters(settings)) or "none yet"
    raise NotFound(f"There is no adapter '{shown(adapter_id)}' (known: {known}); train one with `selftune train`.")


def _lookup(settings: Any, adapter_id: str) -> AdapterInfo | None:
    if "/" not in adapter_id:
        versions = list_adapters(settings, adapter_id)
        return versions[-1] if versions else None
    path = adapters_root(settings) / adapter_id
    return _info(path, served_map(settings)) if (path / "manifest.json").is_file() else None


def parse_served(text: str) -> dict[str, str]:
    """persona -> adapter id from served.toml's text (any checkout or commit of the workspace)."""
    return {k: v for k, v in tomllib.loads(text).items() if isinstance(v, str)}


def served_in(root: Path) -> dict[str, str]:
    """persona -> adapter id served in the workspace checkout at `root` (empty without a served.toml)."""
    path = root / SERVED
    return parse_served(path.read_text(encoding="utf-8")) if path.is_file() else {}


def served_map(settings: Any) -> dict[str, str]:
    """persona -> adapter id currently served."""
    return served_in(settings.workspace_dir)


def served_adapter(settings: Any, persona: str) -> AdapterInfo | None:
    """The adapter a persona serves now, or None (the base model)."""
    adapter_id = served_map(settings).get(persona)
    return get_adapter(settings, adapter_id) if adapter_id else None


def persona_adapter(settings: Any, persona: str) -> AdapterInfo | None:
    """What a persona name means where an adapter is expected: the adapter it serves, else its newest one."""
    served = served_adapter(settings, persona)
    return served if served is not None else newest_adapter(settings, persona)


def newest_adapter(settings: Any, persona: str) -> AdapterInfo | None:
    """The persona's most recently trained adapter, or None."""
    trained = [a for a in list_adapters(settings) if a.persona == persona]
    return max(trained, key=lambda a: (a.created_at or "", _version_key(Path(a.path)))) if trained else None


def set_served(text: str, persona: str, adapter_id: str | None) -> str:
    """served.toml's text with `persona = "adapter_id"` set (or removed when None): the one writer of that file.

    Edited through tomlkit, so comments a person added to the file stay where they were.
    """
    doc = tomlkit.parse(text) if text.strip() else tomlkit.document()
    if not text.strip():
        doc.add(tomlkit.comment("persona = adapter id served for it (managed by selftune; every change is a commit)"))
    if adapter_id is None:
        doc.pop(persona, None)
    else:
        doc[persona] = adapter_id
    return tomlkit.dumps(doc)


def _write_served(settings: Any, persona: str, adapter_id: str | None, verb: str, note: str = "") -> str:
    ws = open_workspace(settings)
    path = settings.workspace_dir / SERVED
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    old = served_map(settings).get(persona, NONE)
    ws.write(SERVED, set_served(text, persona, adapter_id))
    return ws.commit(f"{verb} {persona}: {old} -> {adapter_id or NONE}{note}", [SERVED])


def promote(settings: Any, persona: str, adapter_id: str) -> str:
    """Serve adapter_id for persona (a workspace commit); returns the commit sha."""
    require_persona(open_workspace(settings).path, persona)  # nothing is committed for an unknown persona
    info = get_adapter(settings, adapter_id)
    if info.method == "full":  # every provider serves a persona as base + LoRA (hot swap, ADAPTER, /lora-adapters)
        raise UsageError(f"{info.id} is a full fine-tune, and personas are served as LoRA adapters on the base; "
                         f"export it with `selftune export {info.id} --to gguf` and serve that model instead.")
    sha = _write_served(settings, persona, info.id, "promote")
    _repoint_ollama(settings, persona)
    return sha


def _repoint_ollama(settings: Any, persona: str) -> str | None:
    """Point the persona's Ollama model (selftune-<persona>) at what it serves now, where a pulled base is set."""
    from skills.providers.persona import repoint_alias

    sentence = repoint_alias(settings, persona)
    if sentence:
        log.info("%s", sentence)
    return sentence


def _history(settings: Any, persona: str) -> list[tuple[str, str, str, str]]:
    """(verb, old, new, sha) of this persona's served changes, newest first."""
    repo = open_workspace(settings).repo
    changes = []
    for commit in repo.iter_commits(paths=SERVED):
        match = _PROMOTE.match(commit.message)
        if match and match["persona"] == persona:
            changes.append((match[1], match["old"], match["new"], commit.hexsha))
    return changes


def live_promotion(settings: Any, persona: str) -> tuple[str, str | None, str | None] | None:
    """(sha, adapter served before, adapter it served) of the newest promotion not yet undone by a rollback."""
    repo = open_workspace(settings).repo
    undone: set[str] = set()
    for verb, old, new, sha in _history(settings, persona):
        if verb == "rollback":
            undone.update(re.findall(r"undoes ([0-9a-f]{40})", repo.commit(sha).message))
        elif sha not in undone:
            return sha, None if old == NONE else old, None if new == NONE else new
    return None


def _last_live_promotion(settings: Any, persona: str) -> tuple[str, str | None]:
    """(sha, adapter served before it) of the newest promotion not yet undone by a rollback."""
    found = live_promotion(settings, persona)
    if found is None:
        raise UsageError(f"Persona '{persona}' has no promotion to roll back; it serves what it always served.")
    return found[0], found[1]


def rollback(settings: Any, persona: str, to: str | None = None) -> dict[str, Any]:
    """Serve the adapter the persona served before its last promotion (or `to`); returns what changed."""
    require_persona(open_workspace(settings).path, persona)  # a misspelled persona is unknown, as for promote
    before = served_map(settings).get(persona)
    if to is not None:
        target = get_adapter(settings, to).id
        sha = _write_served(settings, persona, target, "rollback")
    else:
        undo, target = _last_live_promotion(settings, persona)
        sha = _write_served(settings, persona, target, "rollback", f"\n\nundoes {undo}")
    change = {"persona": persona, "from": before, "to": target, "commit": sha}
    if (sentence := _repoint_ollama(settings, persona)) is not None:
        change["ollama"] = sentence
    return change


def rollback_target(settings: Any, persona: str, to: str | None = None) -> str | None:
    """The adapter id a rollback would serve (None: the base model), without changing anything."""
    require_persona(open_workspace(settings).path, persona)
    return get_adapter(settings, to).id if to is not None else _last_live_promotion(settings, persona)[1]


def deletion_plan(settings: Any, ref: str = "all") -> tuple[list[AdapterInfo], list[AdapterInfo]]:
    """(adapters `ref` names that would be deleted, those kept because a persona serves them).

    `ref` is "all", an adapter name (all its versions), a persona (its adapters) or an id "name/version".
    """
    if ref == "all":
        named = list_adapters(settings)
    elif "/" in ref:
        named = [get_adapter(settings, ref)]
    else:
        named = list_adapters(settings, ref) or [a for a in list_adapters(settings) if a.persona == ref]
        if not named:
            get_adapter(settings, ref)  # raises NotFound naming the known adapters
    return [a for a in named if not a.served_for], [a for a in named if a.served_for]


def delete_adapters(settings: Any, ref: str = "all") -> dict[str, Any]:
    """Delete the adapters `ref` names (served ones are kept); returns what was deleted and kept."""
    doomed, kept = deletion_plan(settings, ref)
    for info in doomed:
        shutil.rmtree(info.path)
    return {"deleted": [a.id for a in doomed], "kept_served": [a.id for a in kept]}
