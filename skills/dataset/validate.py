"""`dataset validate`: check every row of a file, keep going after bad rows, never raise, never write."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from config.errors import SelftuneError
from skills.dataset.io import DatasetReader

MAX_ERRORS = 1000  # a broken 1M-row file must not produce a 1M-entry report


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

    @property
    def ok(self) -> bool:
        """True when the file was read and every row is valid."""
        return self.invalid == 0 and self.rows > 0 and self.format is not None


def validate_file(path: str | Path, fmt: str = "auto") -> ValidationReport:
    """Check every row of a dataset file; problems go into the report, nothing is raised."""
    report = ValidationReport(path=str(path), format=None if fmt == "auto" else fmt)
    try:
        reader = DatasetReader(Path(path), fmt)
        report.layout, report.warnings = reader.layout, list(reader.warnings)
        _check_rows(reader, report)
        report.format = reader.format
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
