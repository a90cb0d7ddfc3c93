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
    target = output_path(output, ctx) if output else source.with_name(f"{Path(source).stem}.filtered.jsonl")
    return filter_file(ctx.settings, source, target, keep_top=keep_top, min_score=min_score, persona=persona,
                       progress=ctx.report)
