"""Skill train.submit: submit a training job through the one `submit_training` path."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from skills.context import SkillContext
from skills.paths import PathArg


def _data_source(value: str) -> bool:
    """'#channel', 'here', 'synthetic:200': a source this skill refuses by name, never a file to confine."""
    from skills.dataset.sources import parse_plan

    return parse_plan(value, here="here") is not None


DatasetFile = Annotated[str, PathArg("read", unless=_data_source)]


def submit_training(
    recipe: str | None = None, persona: str | None = None, method: Literal["lora", "qlora", "dpo", "kto", "full"] | None = None,
    dataset: DatasetFile | None = None, executor: Literal["local", "ray"] | None = None, max_steps: int | None = None,
    *, ctx: SkillContext,
) -> dict[str, Any]:
    """Submit a training job; returns the same document as `selftune train --json` (job id, adapter, state, ...)."""
    from config.errors import UsageError
    from skills.dataset.paths import checked_train_args
    from skills.dataset.sources import parse_plan
    from skills.jobs.submit import submit_training as submit

    if dataset and parse_plan(dataset, here="here") is not None:  # a channel or 'synthetic' is not a file
        raise UsageError(f"'{dataset}' is a data source, not a file; build it with dataset.prepare (persona, source) "
                         "and train on the path it returns, or ask in chat to see a preview first.")
    dataset = checked_train_args(ctx, recipe=recipe, persona=persona, dataset=dataset)
    job = submit(ctx.settings, recipe, persona=persona, method=method, dataset=dataset, executor=executor,
                 requester=ctx.requester.user, max_steps=max_steps)
    return job.model_dump(mode="json")
