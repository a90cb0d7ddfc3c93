"""dataset.stats: rows, turns, token lengths and duplicates of a dataset file."""

from typing import Any

from skills.context import SkillContext
from skills.paths import ReadPath


def stats(path: ReadPath, format: str = "auto", tokens: bool = True, *, ctx: SkillContext) -> dict[str, Any]:
    """Rows, turns, roles, token lengths (chat template of the base model) and duplicates of a dataset."""
    from skills.dataset.paths import find_dataset
    from skills.dataset.stats import dataset_stats, load_tokenizer

    settings = ctx.settings
    found = find_dataset(path, ctx)  # refuse a path before loading a tokenizer for it
    tok = load_tokenizer(settings.base_model, settings.models_dir) if tokens else None
    return dataset_stats(found, fmt=format, tokenizer=tok)
