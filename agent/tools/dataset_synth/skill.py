"""dataset.synth: synthetic data through the configured LLM provider."""

from typing import Any, Literal

from skills.context import SkillContext
from skills.paths import ReadPath, ReadPathOrUrl, WritePath


def synth(
    task: Literal["persona", "dpo", "topics", "multiturn", "reasoning", "documents", "qa"], output: WritePath,
    persona: str | None = None, seeds: ReadPath | None = None, documents: list[ReadPath] | None = None,
    sources: list[ReadPathOrUrl] | None = None, topics: list[str] | None = None, perspectives: list[str] | None = None,
    turns: int = 2, best_of: int = 1, pairs: bool = False, max_rows: int = 50, max_seconds: float = 600.0,
    min_score: float | None = None, *, ctx: SkillContext,
) -> dict[str, Any]:
    """Generate a synthetic dataset (resumable, bounded by rows and time) and write it with a manifest."""
    from config.names import check_names
    from skills.dataset.fetch import is_url
    from skills.dataset.paths import find_dataset, find_input, output_path
    from skills.dataset.synth import Inputs, Options, run_synth

    check_names(persona=persona)
    files = [str(find_input(d, ctx)) for d in [*(documents or []), *(s for s in sources or [] if not is_url(s))]]
    inputs = Inputs(seeds=find_dataset(seeds, ctx) if seeds else None, topics=topics, perspectives=perspectives,
                    sources=files + [s for s in sources or [] if is_url(s)])  # URLs: only datasets.allowed_hosts
    return run_synth(
        ctx.settings, task, output_path(output, ctx), persona=persona, max_rows=max_rows, max_seconds=max_seconds,
        options=Options(turns=turns, best_of=best_of, pairs=pairs), inputs=inputs, progress=ctx.report,
        min_score=min_score,
    )
