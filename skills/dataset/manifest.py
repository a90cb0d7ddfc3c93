"""The sidecar manifest every dataset written by selftune carries: `<file>.manifest.json`."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

MANIFEST_SUFFIX = ".manifest.json"


class Source(BaseModel):
    """Where rows came from: a file, a channel (with message ids), a generator or another dataset."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["file", "channel", "generator", "dataset", "url"] = Field(description="What kind of source.")
    path: str | None = Field(None, description="File or dataset path, or the fetched URL.")
    sha256: str | None = Field(None, description="Content hash of the source file, when known.")
    channel: str | None = Field(None, description="Channel id for harvested conversations.")
    message_ids: list[str] | None = Field(None, description="Message ids the rows were built from.")
    adapter: str | None = Field(None, description="Adapter that wrote a harvested answer (unset: the base model).")
    rows: int | None = Field(None, description="Rows taken from this source.")
    weight: float | None = Field(None, description="Mixing weight (dataset mix).")
    note: str | None = Field(None, description="Free text (e.g. the operation that produced the rows).")


class Generator(BaseModel):
    """How synthetic rows were made: model, task and prompt."""

    model_config = ConfigDict(extra="forbid")
    model: str = Field(description="Model name the provider reported.")
    task: str = Field(description="Synthesis task (persona, qa, multiturn, reasoning, dpo, topics, documents).")
    prompt: str = Field(description="The prompt template used.")
    persona: str | None = Field(None, description="Persona card name, when the task uses one.")
    temperature: float = 0.0
    params: dict[str, Any] = Field(default_factory=dict, description="Other generation settings.")


class Manifest(BaseModel):
    """What a dataset file is: content hash, format, size and provenance."""

    model_config = ConfigDict(extra="forbid")
    path: str = Field(description="The dataset file this manifest describes.")
    sha256: str = Field(description="sha256 of the file's bytes.")
    format: str = Field(description="Row format: messages, sharegpt, alpaca, dpo, kto or text.")
    rows: int = Field(description="Number of rows.")
    sources: list[Source] = Field(default_factory=list)
    generator: Generator | None = None
    skipped: dict[str, int] | None = Field(None, description="Harvest: messages left out, by reason.")
    row_messages: list[list[str]] | None = Field(None, description=(
        "The logged message ids behind each row, in file order ([] for a row not built from messages): what "
        "forgetting a message removes rows by."))
    forgotten: int | None = Field(None, description="Rows removed since the file was written because a message "
                                  "behind them was forgotten.")
    duplicates_removed: int | None = Field(None, description=(
        "Rows left out when the file was written because they repeated an earlier row exactly or nearly "
        "(MinHash, skills.dataset.dedup): harvest, mix, prepare and synth remove them."))
    scores: list[float] | None = Field(None, description="Quality score (1-5) of each row, in file order.")
    judge: str | None = Field(None, description="The judge model that gave `scores` (and the rubric's name).")
    score_filter: str | None = Field(None, description="How rows were kept by score (keep-top 0.25, min-score 4).")
    created_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))


def manifest_path(path: Path) -> Path:
    """The sidecar path of a dataset file."""
    return path.with_name(path.name + MANIFEST_SUFFIX)


def as_source(item: Source | dict[str, Any] | str | Path) -> Source:
    """Normalise a source given as a model, a dict or a file path."""
    if isinstance(item, Source):
        return item
    if isinstance(item, dict):
        return Source.model_validate(item)
    path = Path(item)
    return Source(kind="file", path=str(path), sha256=file_sha256(path) if path.is_file() else None)


def file_sha256(path: Path) -> str:
    """sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(manifest: Manifest, dataset: Path) -> Path:
    """Write the sidecar atomically (temp file + rename)."""
    target = manifest_path(dataset)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(manifest.model_dump(mode="json", exclude_none=True), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, target)
    return target


def read_manifest(dataset: Path) -> Manifest | None:
    """The sidecar manifest of a dataset, or None when it has none (or an unreadable one)."""
    target = manifest_path(dataset)
    try:
        return Manifest.model_validate_json(target.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
