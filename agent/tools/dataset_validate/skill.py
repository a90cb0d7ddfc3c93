"""dataset.validate: check every row of a dataset file, and what the guides warn about across rows."""

from typing import Any

from skills.context import SkillContext
from skills.paths import ReadPath


def validate(path: ReadPath, format: str = "auto", strict: bool = False, *, ctx: SkillContext) -> dict[str, Any]:
    """Validate a dataset file: errors with lines, warnings, findings (contradictions, outliers, formatting,
    boilerplate) and `passed` (under `strict`, warnings fail too)."""
    from skills.dataset.paths import find_dataset
    from skills.dataset.validate import validate_file

    report = validate_file(find_dataset(path, ctx), format)
    return {**report.model_dump(), "strict": strict, "passed": report.passes(strict)}
