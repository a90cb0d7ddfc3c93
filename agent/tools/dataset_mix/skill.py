"""dataset.mix: weighted mixing of datasets."""

from typing import Any

from skills.context import SkillContext
from skills.paths import WeightedReadPath, WritePath


def mix(sources: list[WeightedReadPath], output: WritePath, rows: int | None = None, seed: int = 0, *, ctx: SkillContext) -> dict[str, Any]:
    """Mix datasets given as "path:weight" into one shuffled file with a manifest."""
    from skills.dataset.mix import mix_files, parse_weighted
    from skills.dataset.paths import find_dataset, output_path

    weighted = [parse_weighted(s) for s in sources]
    resolved = [(find_dataset(str(p), ctx), w) for p, w in weighted]
    return mix_files(resolved, output_path(output, ctx), rows=rows, seed=seed)
