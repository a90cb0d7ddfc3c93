"""dataset.validate: check every row of a dataset file."""

from typing import Any

from skills.context import SkillContext
from skills.paths import ReadPath


def validate(path: ReadPath, format: str = "auto", *, ctx: SkillContext) -> dict[str, Any]:
    """Validate a dataset file and return the report (rows, valid, invalid, errors with lines, warnings)."""
    from skills.dataset.paths import find_dataset
    from skills.dataset.validate import validate_file

    return validate_file(find_dataset(path, ctx), format).model_dump()
