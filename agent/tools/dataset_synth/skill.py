"""dataset.synth: synthetic data through the configured LLM provider."""

from typing import Any, Literal

from skills.context import SkillContext


def synth(
    task: Literal["persona", "qa", "multiturn", "reasoning", "dpo"], output: str, persona: str | None = None,
    seeds: str | None = None, documents: list[str] | None = None, max_rows: int = 50, max_seconds: float = 600.0,
    min_score: float | None = None, *, ctx: SkillContext,
) -> dict[str, Any]:
    """Generate a synthetic dataset (resumable, bounded by rows and time) and write it with a manifest."""
    from config.names import check_names
    from skills.dataset.paths import find_dataset, find_input, output_path
    from skills.dataset.synth import run_synth

    check_names(persona=persona)
    return run_synth(
        ctx.settings, task, output_path(output, ctx), persona=persona,
        seeds=find_dataset(seeds, ctx) if seeds else None,
        documents=[find_input(d, ctx) for d in documents or []], max_rows=max_rows, max_seconds=max_seconds,
        progress=ctx.report, min_score=min_score,
    )
