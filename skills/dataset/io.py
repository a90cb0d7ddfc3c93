"""Read any supported dataset as canonical rows, and write datasets atomically with a sidecar manifest."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from config.errors import SelftuneError, UsageError
from skills.dataset.formats import (
    FORMATS,
    LONG_TEXT_CHARS,
    RowError,
    detect_format,
    long_text,
    looks_valid,
    row_kind,
    to_canonical,
)
from skills.dataset.manifest import Generator, Manifest, Source, as_source, write_manifest
from skills.dataset.reader import iter_raw, sniff

MAX_ROW_WARNINGS = 20  # a file of huge rows gets a count, not one warning per row
FORMAT_HINT = "expected 'messages', 'conversations', 'instruction'/'output', 'prompt'/'chosen'/'rejected', 'label' or 'text'"


class DatasetError(SelftuneError):
    """A dataset row or file is invalid; the message names the file and line."""


@dataclass
class Row:
    """One record of a dataset: where it is, and its canonical form or what is wrong with it."""

    line: int
    index: int | None
    canonical: dict[str, Any] | None = None
    error: str | None = None

    @property
    def where(self) -> str:
        """'line 12' or 'item 3 (line 40)'."""
        return f"line {self.line}" if self.index is None else f"item {self.index} (line {self.line})"


@dataclass
class DatasetReader:
    """Streams a dataset file; `format` is known after the first recognisable row (or given)."""

    path: Path
    fmt: str = "auto"
    layout: str = "jsonl"
    warnings: list[str] = field(default_factory=list)
    format: str | None = None

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        if self.fmt not in ("auto", *FORMATS):
            raise UsageError(f"Unknown format '{self.fmt}'; use auto, {', '.join(FORMATS)}.")
        self.format = None if self.fmt == "auto" else self.fmt
        self.layout, self._skip, self.warnings = sniff(self.path)

    def rows(self) -> Iterator[Row]:
        """Every record, checked and converted; bad ones carry an error sentence instead."""
        for raw in iter_raw(self.path, self.layout, self._skip):
            yield self._check(*raw)

    def problems(self) -> Iterator[Row]:
        """Only the bad records (fast path for validation); `self.count` ends as the number of records.

        Rows with a text longer than any context window add a line to `self.row_warnings`.
        """
        self.count, self.row_warnings, self.long_rows = 0, [], 0
        for line, index, value, error in iter_raw(self.path, self.layout, self._skip):
            self.count += 1
            if error is None and looks_valid(value, self.format or self._detect(value) or ""):
                continue  # looks_valid also means no text is long enough to warn about
            long = long_text(value)
            if long is not None:
                self._note_long(Row(line, index), long)
            row = self._check(line, index, value, error)
            if row.error is not None:
                yield row

    def _check(self, line: int, index: int | None, value: Any, error: str | None) -> Row:
        """One raw record converted to canonical form, or the sentence saying what is wrong with it."""
        if error is not None:
            return Row(line, index, error=error)
        fmt = self.format or self._detect(value)
        if fmt is None:
            return Row(line, index, error=_unknown_format(value))
        try:
            return Row(line, index, canonical=to_canonical(value, fmt))
        except RowError as exc:
            return Row(line, index, error=str(exc))
        except RecursionError:
            return Row(line, index, error="is nested too deeply to check")

    def _note_long(self, row: Row, text: str) -> None:
        """Warn (with the row's line) about a text longer than any context window; the first few are listed."""
        self.long_rows += 1
        if len(self.row_warnings) < MAX_ROW_WARNINGS:
            self.row_warnings.append(f"{row.where}: {text}, more than any context window holds "
                                     f"({LONG_TEXT_CHARS:,} characters); training cuts it, so shorten or split it.")

    def _detect(self, value: Any) -> str | None:
        self.format = detect_format(value)
        return self.format


def _unknown_format(value: Any) -> str:
    if not isinstance(value, dict):
        return f"is a JSON {type(value).__name__.replace('dict', 'object').replace('list', 'array')}, not an object"
    keys = ", ".join(list(value)[:6]) or "none"
    return f"matches no known format (keys: {keys}); {FORMAT_HINT}"


def iter_canonical(path: str | Path, fmt: str = "auto") -> Iterator[dict[str, Any]]:
    """Canonical rows of a dataset file; raises DatasetError naming the line of the first bad row."""
    reader = DatasetReader(Path(path), fmt)
    for row in reader.rows():
        if row.error is not None:
            raise DatasetError(
                f"{reader.path} {row.where} {row.error}; fix or remove that row "
                f"(`selftune dataset validate {reader.path}` lists every problem)."
            )
        yield row.canonical  # type: ignore[misc]


def format_of(row: dict[str, Any]) -> str:
    """The canonical format name of a canonical row: messages, dpo, kto or text."""
    kind = row_kind(row)
    return "messages" if kind == "sft" else kind


def write_dataset(
    rows: Iterable[dict[str, Any]], path: str | Path, *, fmt: str = "messages",
    sources: Iterable[Source | dict[str, Any] | str | Path] = (), generator: Generator | dict | None = None,
    row_messages: list[list[str]] | None = None, **recorded: Any,
) -> Manifest:
    """Write rows as JSONL atomically (temp + rename) plus `<path>.manifest.json`; returns the manifest.

    `row_messages`: the logged message ids behind each row, when rows were built from conversations;
    `recorded`: other Manifest fields (duplicates_removed, scores, judge, ...)."""
    path = Path(path)
    try:
        sha256, count = _write_rows(rows, path)
        gen = Generator.model_validate(generator) if isinstance(generator, dict) else generator
        kept_ids = row_messages if row_messages is not None and any(row_messages) else None
        manifest = Manifest(path=str(path), sha256=sha256, format=fmt, rows=count,
                            sources=[as_source(s) for s in sources], generator=gen, row_messages=kept_ids, **recorded)
        write_manifest(manifest, path)
    except OSError as exc:  # read-only folder, a folder in the way, a name too long: one sentence
        raise DatasetError(f"Cannot write {path}: {exc.strerror or exc}; check the path and choose a writable file name.") from None
    return manifest


def _write_rows(rows: Iterable[dict[str, Any]], path: Path) -> tuple[str, int]:
    """JSONL through a temp file renamed into place; returns (sha256, rows)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    digest, count = hashlib.sha256(), 0
    try:
        with tmp.open("wb") as f:
            for row in rows:
                data = orjson.dumps(row) + b"\n"
                f.write(data)
                digest.update(data)
                count += 1
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return digest.hexdigest(), count
