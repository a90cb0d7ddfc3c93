"""dataset.build: harvest consented conversations into a messages dataset."""

from typing import Any

from config.errors import UsageError
from config.names import check_names, shown
from memory.store import open_memory
from skills.context import SkillContext
from skills.dataset.harvest import harvest_channel
from skills.dataset.paths import output_path
from skills.paths import WritePath


def dataset_build(source: str, out: WritePath | None = None, persona: str | None = None, full: bool = False,
                  min_score: float | None = None, *, ctx: SkillContext) -> dict[str, Any]:
    """Harvest a channel ("channel:ID") into a dataset file; returns its path, row count and manifest."""
    from skills.dataset.score import score_gate

    kind, _, channel = source.partition(":")
    if kind != "channel" or not channel:
        raise UsageError(f"Build from 'channel:ID', not '{shown(source)}'.")
    check_names(persona=persona)
    target = output_path(out, ctx) if out else None
    with open_memory(ctx.settings) as memory:
        result = harvest_channel(memory, channel, out=target, persona=persona, incremental=not full,
                                 gate=score_gate(ctx.settings, min_score, persona))
    return result.model_dump(mode="json")
