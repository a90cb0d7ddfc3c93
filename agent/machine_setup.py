"""`selftune setup`: prepare once per machine what every state dir needs (config.machine_cache).

The items follow the settings: the recall embedder of `memory.embedder`, and each base model this machine
loads (the training base unless a Ray worker trains, the local chat and judge models). Each item is a
function that prepares into the machine cache and returns at once when that is already done, so setup is
safe to run again; what an item needs and this machine lacks (torch on a bot host) is a skip, not a failure.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from config.errors import SelftuneError
from config.machine_cache import machine_models_dir, quiet_preparing
from config.settings import Settings

Outcome = Literal["prepared", "ready", "skipped"]


class SetupItem(BaseModel):
    """What one item of the setup did."""

    model_config = ConfigDict(extra="forbid")
    name: str
    outcome: Outcome
    seconds: float = 0.0
    detail: str = ""


def _embedder_item(settings: Settings, models_dir: Path) -> tuple[str, Callable[[], object]]:
    from memory.embedders import get_embedder

    backend = settings.memory.embedder
    return f"recall embedder ({backend})", lambda: get_embedder(backend, models_dir)(["hello"])


def _base_model_item(name: str, models_dir: Path) -> tuple[str, Callable[[], object]]:
    from skills.models import resolve_base_model

    return f"base model {name}", lambda: resolve_base_model(name, models_dir)


def base_models(settings: Settings) -> list[str]:
    """The base models this machine loads itself, in a stable order, each once."""
    names = [] if settings.executor.kind == "ray" else [settings.base_model]  # a Ray worker prepares its own
    # an unset model is the base model (the judge's default: the served base)
    names += [cfg.model or settings.base_model for cfg in (settings.llm, settings.judge) if cfg.provider == "local"]
    return list(dict.fromkeys(names))


def items(settings: Settings) -> list[tuple[str, Callable[[], object]]]:
    """(name, prepare) for everything this machine needs prepared."""
    models_dir = machine_models_dir(settings)
    return [_embedder_item(settings, models_dir)] + [_base_model_item(n, models_dir) for n in base_models(settings)]


def _entries(folder: Path) -> set[str]:
    """Every model file and folder in the cache, two levels deep (what a preparation adds shows here; lock files
    are made by a check as well, so they do not count)."""
    if not folder.is_dir():
        return set()
    found = [*folder.glob("*"), *folder.glob("*/*")]
    return {str(p.relative_to(folder)) for p in found if not p.name.endswith(".lock")}


def run_item(settings: Settings, name: str, prepare: Callable[[], object]) -> SetupItem:
    """Prepare one item; 'ready' when the cache already held it."""
    folder = machine_models_dir(settings)
    before = _entries(folder)
    started = time.monotonic()
    try:
        with quiet_preparing():
            prepare()
    except ImportError as exc:
        return SetupItem(name=name, outcome="skipped", detail=f"this install has no {exc.name or 'part'} for it")
    except SelftuneError as exc:
        return SetupItem(name=name, outcome="skipped", detail=str(exc))
    seconds = round(time.monotonic() - started, 1)
    added = _entries(folder) - before
    return SetupItem(name=name, outcome="prepared" if added else "ready", seconds=seconds)
