"""Harvest a channel into a messages dataset: memory picks the consented persona answers, this writes them.

The result and the dataset's manifest count every answer left out by reason (`skipped`), so a build that
yields few rows says why.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from config.settings import Settings
from memory.harvest import HarvestBatch
from memory.store import Memory
from skills.dataset.dedup import unique_indexes
from skills.dataset.io import write_dataset
from skills.dataset.manifest import Source, write_manifest
from skills.dataset.score import ScoreGate
from skills.personas import load_persona


class HarvestResult(BaseModel):
    """What a harvest produced (path is None when there was nothing new)."""

    model_config = ConfigDict(extra="forbid")

    channel: str
    path: Path | None
    manifest: Path | None
    rows: int
    duplicates: int
    without_consent: int = Field(description="Messages (either side) written while the channel had no consent.")
    skipped: dict[str, int] = Field(description=(
        "Assistant messages that did not become rows, by reason: command, question, error, help, progress, "
        "disliked (net 👎), other_persona, without_consent, duplicate, unknown (logged before kinds), no_prompt, "
        "degenerate (cut by the chat loop guard), loop, copied_command, copied_reply, near_duplicate, tool_call; "
        "low_score (below --min-score, when the judge scored the rows)."))
    near_duplicates: int = Field(0, description="Rows dropped because their last exchange repeated an earlier "
                                 "row's exactly or nearly (also counted in skipped.near_duplicate).")
    since_seq: int
    until_seq: int


def harvest_channel(memory: Memory, channel: str, *, out: Path | None = None, persona: str | None = None,
                    rewrite: Callable[[str], str] | None = None, incremental: bool = True,
                    gate: ScoreGate | None = None) -> HarvestResult:
    """Turn the channel's consented conversations since the last build into a messages dataset; with a `gate`,
    only rows the judge scores at least its min_score (the others count as skipped `low_score`)."""
    system_prompt = load_persona(memory.settings.workspace_dir, persona).system_prompt if persona else None
    batch = memory.harvest_rows(channel, system_prompt=system_prompt, rewrite=rewrite, incremental=incremental,
                                cursor_name=f"harvest:{channel}:{persona or ''}", persona=persona)
    kept = _without_near_duplicates(batch)
    kept, scored = _best(kept, gate)
    path = manifest = None
    if kept.rows:
        path = out or _default_path(memory.settings, channel)
        manifest = _write(path, kept, system_prompt, scored)
    memory.mark_harvested(batch, path)  # every row, dropped ones too: a later build must not offer them again
    return HarvestResult(channel=channel, path=path, manifest=manifest, rows=len(kept.rows),
                         duplicates=batch.duplicates, without_consent=batch.without_consent, skipped=kept.skipped,
                         near_duplicates=len(batch.rows) - len(kept.rows),
                         since_seq=batch.since_seq, until_seq=batch.until_seq)


def _without_near_duplicates(batch: HarvestBatch) -> HarvestBatch:
    """The batch without rows whose last exchange repeats an earlier row's (counted as near_duplicate)."""
    keep = unique_indexes(batch.rows)
    removed = len(batch.rows) - len(keep)
    skipped = {**batch.skipped, "near_duplicate": batch.skipped.get("near_duplicate", 0) + removed}
    return batch.model_copy(update={"rows": [batch.rows[i] for i in keep], "skipped": skipped})


def _best(batch: HarvestBatch, gate: ScoreGate | None) -> tuple[HarvestBatch, dict]:
    """The batch's rows the gate keeps (all without one), with `low_score` counted, and the scores to record."""
    if gate is None or not batch.rows:
        return batch, {}
    keep, scored = gate.keep([{"messages": r["messages"]} for r in batch.rows])
    skipped = {**batch.skipped, "low_score": len(batch.rows) - len(keep)}
    return batch.model_copy(update={"rows": [batch.rows[i] for i in keep], "skipped": skipped}), scored


def _default_path(settings: Settings, channel: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", channel)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    return settings.artifacts_dir / "datasets" / f"harvest-{safe}-{stamp}.jsonl"


def _write(path: Path, batch: HarvestBatch, system_prompt: str | None, scored: dict) -> Path:
    """Write the rows with the datasets area's writer; provenance = the message ids of every row."""
    note = f"harvest of seq {batch.since_seq + 1}..{batch.until_seq}"
    sources = [Source(kind="channel", channel=batch.channel, message_ids=r["message_ids"], rows=1, adapter=r.get("adapter"),
                      note=f"row {i + 1}; {note}" + ("; persona system prompt" if system_prompt else ""))
               for i, r in enumerate(batch.rows)]
    manifest = write_dataset(({"messages": r["messages"]} for r in batch.rows), path, fmt="messages",
                             sources=sources, row_messages=[list(r["message_ids"]) for r in batch.rows],
                             duplicates_removed=batch.skipped.get("near_duplicate", 0), **scored)
    return write_manifest(manifest.model_copy(update={"skipped": batch.skipped}), path)
