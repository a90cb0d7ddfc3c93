"""`dataset validate`: check every row of a file, keep going after bad rows, never raise, never write."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from config.errors import SelftuneError
from skills.dataset.io import DatasetReader
from skills.dataset.quality import Finding, find_problems

MAX_ERRORS = 1000  # a broken 1M-row file must not produce a 1M-entry report
MAX_QUALITY_ROWS = 200_000  # the cross-row checks hold every row in memory; bigger files are checked in part
MAX_RAW_BYTES = 256 << 20  # line endings are read from the raw bytes of files up to this size


class RowProblem(BaseModel):
    """One invalid row: its 1-based line (array items: the line where they start) and what is wrong."""

    model_config = ConfigDict(extra="forbid")
    line: int
    index: int | None = Field(None, description="0-based item index when the file is a JSON array.")
    message: str


class ValidationReport(BaseModel):
    """The `dataset validate --json` document."""

    model_config = ConfigDict(extra="forbid")
    path: str
    format: str | None = Field(description="Detected or given format; None when nothing could be read.")
    layout: str | None = Field(None, description="jsonl or array.")
    rows: int = 0
    valid: int = 0
    invalid: int = 0
    errors: list[RowProblem] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list, description=(
        "What the guides warn about, across rows: contradictions, length outliers, formatting, boilerplate."))

    @property
    def ok(self) -> bool:
        """True when the file was read and every row is valid."""
        return self.invalid == 0 and self.rows > 0 and self.format is not None

    def passes(self, strict: bool = False) -> bool:
        """ok, and under `strict` also free of warnings and findings."""
        return self.ok and not (strict and (self.warnings or self.findings))


def validate_file(path: str | Path, fmt: str = "auto", *, checks: bool = True) -> ValidationReport:
    """Check every row of a dataset file; problems go into the report, nothing is raised. `checks`: also run the
    cross-row checks (contradictions, outliers, formatting, boilerplate; about 0.2 ms a row)."""
    report = ValidationReport(path=str(path), format=None if fmt == "auto" else fmt)
    try:
        reader = DatasetReader(Path(path), fmt)
        report.layout, report.warnings = reader.layout, list(reader.warnings)
        _check_rows(reader, report)
        report.format = reader.format
        if report.valid and checks:
            report.findings = _quality(Path(path), reader.format or fmt, reader.layout, report)
    except SelftuneError as exc:
        report.errors.append(RowProblem(line=0, message=str(exc)))
        report.invalid += 1
    except OSError as exc:
        report.errors.append(RowProblem(line=0, message=f"{path} cannot be read ({exc.strerror or exc})."))
        report.invalid += 1
    if report.rows == 0 and report.invalid == 0:
        report.warnings.append(f"{path} holds no rows.")
    return report


def _check_rows(reader: DatasetReader, report: ValidationReport) -> None:
    invalid = 0
    try:
        for row in reader.problems():
            invalid += 1
            if len(report.errors) < MAX_ERRORS:
                where = f"line {row.line}" if row.index is None else f"item {row.index}"
                report.errors.append(RowProblem(line=row.line, index=row.index, message=f"{where} {row.error}."))
    finally:
        report.rows, report.invalid = reader.count, report.invalid + invalid
        report.valid = report.rows - invalid
        report.warnings += reader.row_warnings
        if reader.long_rows > len(reader.row_warnings):
            report.warnings.append(f"{reader.long_rows} rows in all hold a text that long; only the first "
                                   f"{len(reader.row_warnings)} are listed.")
    if report.invalid > MAX_ERRORS:
        report.warnings.append(f"only the first {MAX_ERRORS} of {report.invalid} errors are listed.")


def _quality(path: Path, fmt: str, layout: str, report: ValidationReport) -> list[Finding]:
    """The cross-row checks over the valid rows (the first MAX_QUALITY_ROWS of them)."""
    rows = []
    for row in DatasetReader(path, fmt).rows():
        if row.canonical is not None:
            rows.append((row.line, row.canonical))
        if len(rows) >= MAX_QUALITY_ROWS:
            report.warnings.append(f"only the first {MAX_QUALITY_ROWS:,} rows were checked for contradictions, "
                                   "outliers and formatting.")
            break
    raw = path.read_bytes() if layout == "jsonl" and path.stat().st_size <= MAX_RAW_BYTES else None
    try:
        return find_problems(rows, raw)
    except RecursionError:  # a row nested deep enough to pass the reader but not a recursive walk
        return []
