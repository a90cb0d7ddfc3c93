"""Where a chat-started training job gets its data: a consented channel, synthetic rows, or both, as one file.

A plan is written the way `!tune dataset=` and the chat grammar write it: `#pirate-chat`, `<#123>`, `here`
(the channel the request came from), `synthetic`, `synthetic:200`, or parts joined by '+'
(`#pirate-chat+synthetic:200`); `since:2026-11-23` keeps only the channel's answers from that day on. Harvesting keeps the honest-harvest rules (consent, persona answers only,
`skills.dataset.harvest`); synthesis uses the configured LLM (`skills.dataset.synth`). The result is one
canonical JSONL whose manifest lists every source (the harvested message ids included).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from config.errors import UsageError
from config.settings import Settings
from skills.dataset.dedup import unique_indexes
from skills.dataset.io import iter_canonical, write_dataset
from skills.dataset.manifest import Source, read_manifest
from skills.dataset.provenance import rows_with_ids

SYNTH_DEFAULT_ROWS = 30  # above train.min_rows with a held-out split, within the 32 built-in seed prompts
SYNTH_MAX_ROWS = 500  # a chat request never starts a longer generation than this
SYNTH_MAX_S = 600.0  # nor one that runs longer (the rows made by then are kept and previewed)
_CHANNEL = re.compile(r"<#(\d+)>|#([\w-]+)|(here)")
_SYNTH = re.compile(r"synth(?:etic)?(?::(\d+))?")
_SINCE = re.compile(r"since:(\S+)")


class DataPlan(BaseModel):
    """What to build a dataset from: a channel to harvest and/or a number of synthetic rows."""

    model_config = ConfigDict(extra="forbid")
    channel: str | None = Field(None, description="Channel key as memory logs it (a Discord id, a CLI name).")
    synthetic: int = Field(0, ge=0, le=SYNTH_MAX_ROWS, description="Synthetic persona rows to generate.")
    since: datetime | None = Field(None, description="Only channel answers given at or after this moment (UTC).")


class Prepared(BaseModel):
    """The dataset a plan produced, and what the preview shows of it."""

    model_config = ConfigDict(extra="forbid")
    path: Path
    rows: int
    harvested: int
    synthetic: int
    synthetic_asked: int = Field(0, description="Synthetic rows asked for (more than made when the seed prompts ran out).")
    message_ids: list[str] = Field(default_factory=list, description="Harvested rows' message ids (answers and context).")
    samples: list[dict[str, Any]] = Field(default_factory=list, description="Up to three rows, for the preview.")
    duplicates_removed: int = Field(0, description="Rows left out as exact or near duplicates of an earlier row.")


def parse_plan(value: str | None, *, here: str | None = None) -> DataPlan | None:
    """A DataPlan for a source string, or None when it is not one (a file path, for instance)."""
    if not value:
        return None
    channel, synthetic, since = None, 0, None
    for part in (p.strip().lower() for p in value.split("+")):
        found, synth, after = _CHANNEL.fullmatch(part), _SYNTH.fullmatch(part), _SINCE.fullmatch(part)
        if found:
            channel = found.group(1) or found.group(2) or here
        elif synth:
            synthetic = bounded_rows(int(synth.group(1)) if synth.group(1) else SYNTH_DEFAULT_ROWS)
        elif after:
            since = _moment(after.group(1))
        else:
            return None
    return DataPlan(channel=channel, synthetic=synthetic, since=since) if channel or synthetic else None


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"'{text}' is not a date; write it like 2026-11-23 (since:2026-11-23).") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def bounded_rows(rows: int) -> int:
    """Synthetic row count within 1..SYNTH_MAX_ROWS, refused in one sentence outside it."""
    if not 1 <= rows <= SYNTH_MAX_ROWS:
        raise UsageError(f"I can generate 1 to {SYNTH_MAX_ROWS} synthetic rows per request, not {rows}; ask for fewer.")
    return rows


def prepare(settings: Settings, plan: DataPlan, persona: str,
            progress: Callable[[dict[str, Any]], None] | None = None) -> Prepared:
    """Build the plan's dataset for `persona` (harvest, synthesis, or both combined) and check its size."""
    parts: list[Path] = []
    ids: list[str] = []
    harvested = 0
    if plan.channel:
        path, harvested, ids = _harvest(settings, plan.channel, persona, plan.since)
        parts.append(path)
    if plan.synthetic:
        parts.append(_synthesize(settings, persona, plan.synthetic, progress))
    path = parts[0] if len(parts) == 1 else _combine(settings, parts, persona)
    rows = list(iter_canonical(path))
    _check_size(settings, plan, len(rows), harvested)
    return Prepared(path=path, rows=len(rows), harvested=harvested, synthetic=len(rows) - harvested,
                    synthetic_asked=plan.synthetic, message_ids=ids, samples=rows[:3],
                    duplicates_removed=sum(_removed(p) for p in {*parts, path}))


def _harvest(settings: Settings, channel: str, persona: str, since: datetime | None) -> tuple[Path, int, list[str]]:
    """The channel's consented answers of `persona` as a dataset, refused in one sentence without consent."""
    from memory.store import open_memory
    from skills.dataset.harvest import harvest_channel

    with open_memory(settings) as memory:
        if not memory.consented(channel):
            raise UsageError(f"#{channel} has not opted in to collection, so I can't train on it; an admin can say "
                             "'start collecting this channel' there first.")
        result = harvest_channel(memory, channel, persona=persona, out=_out(settings, f"harvest-{persona}"),
                                 incremental=False)  # a tune uses every consented answer, not only new ones
        rows = result.rows
        if result.path is not None and since is not None:
            rows = _keep_since(memory, result.path, since)
    if not rows:
        raise UsageError(f"#{channel} has no consented {persona} answers to train on"
                         f"{' since ' + since.date().isoformat() if since else ' yet'}; chat with {persona} there "
                         "first, or add synthetic rows ('plus 50 synthetic rows').")
    assert result.path is not None  # rows were written
    manifest = read_manifest(result.path)
    ids = [i for s in (manifest.sources if manifest else []) for i in (s.message_ids or [])]
    return result.path, rows, ids


def _keep_since(memory: Any, path: Path, since: datetime) -> int:
    """Rewrite a harvest keeping rows whose answer (a row's last message) was given at or after `since`."""
    from memory.log import get_messages

    manifest = read_manifest(path)
    sources = manifest.sources if manifest else []
    rows = list(iter_canonical(path))
    answers = get_messages(memory.conn, [s.message_ids[-1] for s in sources if s.message_ids])
    kept = [(row, source) for row, source in zip(rows, sources, strict=True)
            if source.message_ids and answers.get(source.message_ids[-1]) is not None
            and _aware(answers[source.message_ids[-1]].created_at) >= since]
    if kept:
        write_dataset([row for row, _ in kept], path, fmt="messages", sources=[source for _, source in kept])
    return len(kept)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _synthesize(settings: Settings, persona: str, rows: int,
                progress: Callable[[dict[str, Any]], None] | None) -> Path:
    """`rows` persona answers from the configured LLM, refused in one sentence when it cannot answer."""
    from skills.dataset.synth import run_synth
    from skills.providers import ProviderUnavailable

    try:
        result = run_synth(settings, "persona", _out(settings, f"synth-{persona}"), persona=persona, max_rows=rows,
                           max_seconds=min(SYNTH_MAX_S, settings.llm.timeout_s * rows), progress=progress)
    except ProviderUnavailable as exc:
        raise UsageError(f"I can't generate synthetic rows: the language model is not answering "
                         f"({str(exc).rstrip('.')}); configure llm.provider, or train on a channel or a file.") from None
    return Path(result["path"])


def _combine(settings: Settings, parts: list[Path], persona: str) -> Path:
    """All distinct rows of every part in one file; its manifest keeps each part's sources (message ids included)
    and counts the rows left out as repeats of an earlier part's (a synthetic answer copying a harvested one)."""
    pairs = [pair for part in parts for pair in rows_with_ids(part)]
    with_ids = [pairs[i] for i in unique_indexes([row for row, _ in pairs])]
    sources: list[Source] = []
    for part in parts:
        manifest = read_manifest(part)
        sources.extend(manifest.sources if manifest else [Source(kind="file", path=str(part))])
    manifest = write_dataset([row for row, _ in with_ids], _out(settings, f"mix-{persona}"), fmt="messages",
                             sources=sources, row_messages=[ids for _, ids in with_ids],
                             duplicates_removed=len(pairs) - len(with_ids))
    return Path(manifest.path)


def _removed(path: Path) -> int:
    """The duplicates its manifest says were left out when `path` was written."""
    manifest = read_manifest(path)
    return (manifest.duplicates_removed or 0) if manifest else 0


def _check_size(settings: Settings, plan: DataPlan, rows: int, harvested: int) -> None:
    minimum = settings.train.min_rows
    if rows >= minimum:
        return
    where = f"#{plan.channel} gave {harvested} consented answer{'s' if harvested != 1 else ''}" if plan.channel \
        else f"the language model gave {rows} row{'s' if rows != 1 else ''}"
    raise UsageError(f"Too few rows to train: {where} and training needs at least {minimum} (train.min_rows); "
                       "add synthetic rows ('plus 50 synthetic rows') or wait for more conversation.")


def _out(settings: Settings, stem: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    return settings.artifacts_dir / "datasets" / f"{stem}-{stamp}.jsonl"


def count_tokens(rows: list[dict[str, Any]]) -> int:
    """A tokenizer-free token count (words and punctuation marks), close to a BPE count for English chat."""
    return sum(len(re.findall(r"\w+|[^\w\s]", str(m.get("content", "")))) for r in rows for m in r.get("messages", []))
