"""dataset.build: harvest consented conversations into a messages dataset."""

from pathlib import Path
from typing import Any

from config.errors import UsageError
from memory.store import open_memory
from skills.context import SkillContext
from skills.dataset.harvest import harvest_channel


def dataset_build(source: str, out: str | None = None, persona: str | None = None, full: bool = False, *,
                  ctx: SkillContext) -> dict[str, Any]:
    """Harvest a channel ("channel:ID") into a dataset file; returns its path, row count and manifest."""
    kind, _, channel = source.partition(":")
    if kind != "channel" or not channel:
        raise UsageError(f"Build from 'channel:ID', not '{source}'.")
    with open_memory(ctx.settings) as memory:
        result = harvest_channel(memory, channel, out=Path(out) if out else None, persona=persona, incremental=not full)
    return result.model_dump(mode="json")
