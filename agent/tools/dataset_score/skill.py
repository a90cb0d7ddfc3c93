"""dataset.score: quality scores (1-5) for every row through the configured judge."""

from typing import Any

from skills.context import SkillContext
from skills.paths import ReadPath


def score(path: ReadPath, persona: str | None = None, *, ctx: SkillContext) -> dict[str, Any]:
    """Rate each row of a dataset 1-5 and write its scores sidecar (skills.dataset.score.scores_path); returns the summary and every score."""
    from config.names import check_names
    from skills.dataset.paths import find_dataset
    from skills.dataset.score import score_file

    check_names(persona=persona)
    return score_file(ctx.settings, find_dataset(path, ctx), persona=persona, progress=ctx.report)
