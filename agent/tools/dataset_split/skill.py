"""dataset.split: deterministic train/eval split without duplicate leakage."""

from typing import Any

from skills.context import SkillContext
from skills.paths import ReadPath, WriteFolder


def split(
    path: ReadPath, eval_ratio: float = 0.1, seed: int = 0, output_dir: WriteFolder | None = None, *, ctx: SkillContext,
) -> dict[str, Any]:
    """Split a dataset into train/eval files by seed; duplicates stay on one side."""
    from skills.dataset.paths import find_dataset, output_folder
    from skills.dataset.split import split_file

    return split_file(find_dataset(path, ctx), output_folder(output_dir, ctx), eval_ratio=eval_ratio, seed=seed)
