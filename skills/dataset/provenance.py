"""Which logged messages each dataset row came from, and forgetting them in every dataset file of the state dir.

Every dataset selftune builds from conversations records, in its manifest, the message ids behind each row
(`row_messages`; harvest files written before that field carry one channel source per row, which is read
the same way). Files built from other files (the nightly merge, `<persona>-harvested.jsonl`, splits, the
copies kept beside an adapter) carry their rows' ids along. Forgetting messages then removes their rows from
every such file under artifacts/ and holdout/ (a new file renamed over the old, the manifest updated and
counting the removed rows), and names the adapters whose training data held them: an adapter cannot unlearn,
so the person deciding must retrain or delete it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from config.settings import Settings
from config.state import connect
from memory.forget import clear_forgotten, pending_forgotten
from skills.dataset.io import iter_canonical
from skills.dataset.manifest import (
    MANIFEST_SUFFIX,
    Manifest,
    Source,
    file_sha256,
    read_manifest,
    write_manifest,
)

ROOTS = ("artifacts", "holdout")  # where dataset files live (models/ and chroma/ hold none)


class CleanedFile(BaseModel):
    """One dataset file that held rows built from forgotten messages."""

    path: str
    removed: int = Field(description="Rows removed (0 when the file could not be cleaned, see `changed`).")
    changed: bool = Field(False, description="The file was edited since its manifest was written, so its rows "
                          "cannot be matched to messages; it was left as it is.")
    sha256_before: str = ""
    messages: list[str] = Field(default_factory=list, exclude=True)


class AffectedAdapter(BaseModel):
    """An adapter whose training data held forgotten messages."""

    id: str
    persona: str | None
    messages: int


class DerivedForget(BaseModel):
    """What forgetting did beyond the log and the index."""

    files: list[CleanedFile] = []
    adapters: list[AffectedAdapter] = []

    @property
    def rows(self) -> int:
        return sum(f.removed for f in self.files)

    def sentence(self) -> str:
        """What the reply says about dataset files and adapters ('' when nothing was derived from the messages)."""
        parts = []
        cleaned = [f for f in self.files if f.removed]
        if cleaned:
            parts.append(f"Removed {self.rows} dataset row(s) built from them in {len(cleaned)} file(s).")
        changed = [Path(f.path).name for f in self.files if f.changed]
        if changed:
            parts.append(f"{', '.join(changed)} changed since it was written and still holds rows from them; "
                         "edit or delete it by hand.")
        for adapter in self.adapters:
            parts.append(f"Adapter {adapter.id} was trained on {adapter.messages} of these messages: retrain "
                         f"{adapter.persona or 'its persona'} or delete the adapter.")
        return " ".join(parts)


def row_message_ids(path: Path, manifest: Manifest | None = None) -> list[list[str]]:
    """The message ids behind each row of a dataset file, in file order ([] for every row when not recorded)."""
    manifest = manifest or read_manifest(path)
    if manifest is None:
        return []
    if manifest.row_messages is not None:
        return manifest.row_messages
    if _per_row_sources(manifest):  # a harvest file written before row_messages existed
        return [list(s.message_ids or []) for s in manifest.sources]
    return [[] for _ in range(manifest.rows)]


def _per_row_sources(manifest: Manifest) -> bool:
    return bool(manifest.sources) and len(manifest.sources) == manifest.rows and all(
        s.kind == "channel" and s.rows == 1 for s in manifest.sources)


def rows_with_ids(path: Path) -> Iterator[tuple[dict[str, Any], list[str]]]:
    """Each canonical row of a dataset file with the message ids behind it."""
    ids = row_message_ids(path)
    for i, row in enumerate(iter_canonical(path)):
        yield row, ids[i] if i < len(ids) else []


def unique_rows_with_ids(sources: list[Path]) -> tuple[list[dict[str, Any]], list[list[str]]]:
    """The rows of `sources` in order, each distinct row once, with every message id behind its copies."""
    rows: list[dict[str, Any]] = []
    ids: list[list[str]] = []
    where: dict[str, int] = {}
    for source in sources:
        for row, row_ids in rows_with_ids(source):
            key = json.dumps(row, sort_keys=True)
            if key in where:
                known = ids[where[key]]
                known.extend(m for m in row_ids if m not in known)
                continue
            where[key] = len(rows)
            rows.append(row)
            ids.append(list(row_ids))
    return rows, ids


def copy_manifest(source: Path, target: Path, *, named: Path | None = None) -> None:
    """Give a copied dataset file (`target`) its source's manifest (same rows, same ids); `named` is the path the
    manifest records when the copy is moved afterwards (a folder renamed into place)."""
    manifest = read_manifest(source)
    if manifest is not None:
        write_manifest(manifest.model_copy(update={"path": str(named or target)}), target)


def dataset_files(settings: Settings) -> Iterator[Path]:
    """Every dataset file with a manifest under the state dir's artifacts/ and holdout/ (links not followed)."""
    for root in ROOTS:
        for folder, dirs, files in os.walk(settings.home / root):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                if name.endswith(MANIFEST_SUFFIX) and not name.startswith("."):
                    dataset = Path(folder) / name[: -len(MANIFEST_SUFFIX)]
                    if dataset.is_file():
                        yield dataset


def clean_forgotten(settings: Settings) -> DerivedForget:
    """Remove the rows of every forgotten message not cleaned yet (each forget, and retention, records its ids)."""
    conn = connect(settings)
    try:
        pending = pending_forgotten(conn)
        derived = forget_in_datasets(settings, pending)
        clear_forgotten(conn, pending)  # after the files: a crash in between cleans them again, never skips them
    finally:
        conn.close()
    return derived


def forget_in_datasets(settings: Settings, message_ids: list[str]) -> DerivedForget:
    """Remove the rows built from these messages from every dataset file; name the adapters trained on them."""
    forgotten = set(message_ids)
    if not forgotten:
        return DerivedForget()
    files = [c for c in (_clean(path, forgotten) for path in dataset_files(settings)) if c is not None]
    return DerivedForget(files=files, adapters=_trained_on(settings, files))


def _clean(path: Path, forgotten: set[str]) -> CleanedFile | None:
    """Rewrite one file without the rows behind forgotten messages (None when it holds none)."""
    manifest = read_manifest(path)
    ids = row_message_ids(path, manifest)
    doomed = {i for i, row in enumerate(ids) if forgotten.intersection(row)}
    if manifest is None or not doomed:
        return None
    found = sorted({m for i in doomed for m in ids[i]} & forgotten)
    before = file_sha256(path)
    lines = [line for line in path.read_bytes().splitlines(keepends=True) if line.strip()]
    if before != manifest.sha256 or len(lines) != len(ids):  # rows no longer line up with their ids
        return CleanedFile(path=str(path), removed=0, changed=True, sha256_before=before, messages=found)
    kept = [i for i in range(len(lines)) if i not in doomed]
    sha256 = _replace_lines(path, [lines[i] for i in kept])
    write_manifest(manifest.model_copy(update={
        "sha256": sha256, "rows": len(kept), "row_messages": [ids[i] for i in kept],
        "forgotten": (manifest.forgotten or 0) + len(doomed), "sources": _sources_without(manifest, kept, forgotten),
    }), path)
    return CleanedFile(path=str(path), removed=len(doomed), sha256_before=before, messages=found)


def _replace_lines(path: Path, lines: list[bytes]) -> str:
    """Write the kept lines to a temp file renamed over the old one (all or nothing); returns the new sha256."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.forget.tmp")
    try:
        with tmp.open("wb") as f:
            f.writelines(line if line.endswith(b"\n") else line + b"\n" for line in lines)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return file_sha256(path)


def _sources_without(manifest: Manifest, kept: list[int], forgotten: set[str]) -> list[Source]:
    """The sources, the forgotten ids taken out (per-row harvest sources: the removed rows' own dropped)."""
    sources = [manifest.sources[i] for i in kept] if _per_row_sources(manifest) else manifest.sources
    return [s.model_copy(update={"message_ids": [m for m in s.message_ids if m not in forgotten]})
            if s.message_ids else s for s in sources]


def _trained_on(settings: Settings, files: list[CleanedFile]) -> list[AffectedAdapter]:
    """Adapters whose recorded training data (by path or checksum) is one of the files that held the messages."""
    from skills.train.adapters import list_adapters

    affected = []
    for info in list_adapters(settings):
        manifest = json.loads((Path(info.path) / "manifest.json").read_text(encoding="utf-8"))
        messages = _messages_in(manifest.get("train_dataset") or {}, files) or _messages_in(
            {"path": manifest.get("dataset"), "sha256": manifest.get("dataset_sha256")}, files)
        if messages:
            affected.append(AffectedAdapter(id=info.id, persona=info.persona, messages=len(messages)))
    return affected


def _messages_in(record: dict[str, Any], files: list[CleanedFile]) -> set[str]:
    """The forgotten messages in the files a training-data record (path, sha256) names."""
    found: set[str] = set()
    path = Path(record["path"]).resolve() if record.get("path") else None
    for cleaned in files:
        if path == Path(cleaned.path).resolve() or (record.get("sha256") and record["sha256"] == cleaned.sha256_before):
            found.update(cleaned.messages)
    return found
