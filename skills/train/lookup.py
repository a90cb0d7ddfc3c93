"""Find an adapter by folder, registry id or persona name and read its manifest (eval, export and the
confirmations all look adapters up here)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from config.errors import NotFound
from config.names import is_adapter_id, shown
from config.paths import OutsideFolders, exists, named, resolved
from config.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class AdapterRef:
    """An adapter on disk and what its manifest says about it."""

    path: Path
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """A readable id: manifest name/version or the folder name."""
        name, version = self.manifest.get("name"), self.manifest.get("version")
        return f"{name}/{version}" if name and version else str(name or self.path.name)


def _registry_path(adapter: str, settings: Settings) -> Path | None:
    """A registry id ("pirate-lora/v2", or a bare name for its newest version), else a persona name meaning
    the adapter that persona serves."""
    from skills.train import adapters

    try:
        return Path(adapters.get_adapter(settings, adapter).path)
    except NotFound:
        found = adapters.persona_adapter(settings, adapter)  # served, else the newest trained for that persona
        return Path(found.path) if found else None


def _not_found(adapter: str | Path) -> NotFound:
    return NotFound(
        f"Adapter '{shown(str(adapter))}' is neither a PEFT adapter folder (with adapter_config.json), a "
        "registered adapter id nor a persona with an adapter; pass the folder written by training, an id from "
        "`selftune adapters list` or a persona name."
    )


def confined_adapter(adapter: str, settings: Settings, *, arg: str | None = None) -> Path:
    """The adapter folder a confined caller (Discord, MCP, the model) means: a registry id or persona name,
    or a folder inside artifacts/adapters; never a path elsewhere."""
    root = resolved(settings.artifacts_dir / "adapters", "artifacts/adapters")
    if is_adapter_id(adapter):
        found = _registry_path(adapter, settings)
        if found is None:
            raise _not_found(adapter)
        return found
    real = resolved(root / adapter, adapter)  # an absolute path replaces root when joined
    if not real.is_relative_to(root):
        raise OutsideFolders(f"{named(adapter, arg)} is outside selftune's folders; name a registered adapter id "
                             "from `selftune adapters list` instead.")
    if not exists(real / "adapter_config.json"):
        raise _not_found(adapter)
    return real


def _trained(path: Path) -> bool:
    """A LoRA adapter folder, or a full fine-tune's model folder (config.json beside a manifest.json)."""
    return (path / "adapter_config.json").is_file() or ((path / "config.json").is_file()
                                                        and (path / "manifest.json").is_file())


def resolve_adapter(adapter: str | Path, settings: Settings) -> AdapterRef:
    """Turn a folder path or a registry id into an AdapterRef; raise NotFound with a hint otherwise."""
    path = Path(adapter).expanduser()
    if not _trained(path):
        path = _registry_path(str(adapter), settings) or path
    if not _trained(path):
        raise _not_found(adapter)
    manifest_path = path / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.is_file() else {}
    return AdapterRef(path=path, manifest=manifest)


def base_model_of(ref: AdapterRef, settings: Settings) -> str:
    """The base model an adapter was trained on: manifest, then adapter_config.json, then settings."""
    if ref.manifest.get("base_model"):
        return str(ref.manifest["base_model"])
    config = json.loads((ref.path / "adapter_config.json").read_text(encoding="utf-8"))
    return str(config.get("base_model_name_or_path") or settings.base_model)
