"""dataset.filter: keep the best-scored rows of a dataset."""

from pathlib import Path
from typing import Any

from skills.context import SkillContext
from skills.paths import ReadPath, WritePath


def filter_rows(path: ReadPath, keep_top: float | None = None, min_score: float | None = None,
                output: WritePath | None = None,
                persona: str | None = None, *, ctx: SkillContext) -> dict[str, Any]:
    """Write the rows of `path` with the best quality scores (top share or minimum score) to a new dataset."""
    from config.names import check_names
    from skills.dataset.paths import find_dataset, output_path
    from skills.dataset.score import filter_file

    check_names(persona=persona)
    source = find_dataset(path, ctx)
    default = f"{Path(source).stem}.filtered.jsonl"  # beside the source for the owner; a confined caller's goes
    # where it may write (the source may sit in a read-only allowed folder)
    target = output_path(output or default, ctx) if output or ctx.confined else source.with_name(default)
    return filter_file(ctx.settings, source, target, keep_top=keep_top, min_score=min_score, persona=persona,
                       progress=ctx.report)
