"""Skill train.submit: build a TrainSpec from recipe/persona/method/dataset and submit it as a job."""

from __future__ import annotations

from typing import Any, Literal

from skills.context import SkillContext


def submit_training(
    recipe: str | None = None, persona: str | None = None, method: Literal["lora", "qlora", "dpo", "full"] | None = None,
    dataset: str | None = None, executor: Literal["local", "ray"] | None = None, max_steps: int | None = None,
    *, ctx: SkillContext,
) -> dict[str, Any]:
    """Submit a training job; returns {job_id, name, executor, state, output_dir, message}."""
    from skills.dataset.paths import checked_train_args
    from skills.jobs import JobManager
    from skills.jobs.format import describe
    from skills.train.spec import spec_from_recipe

    dataset = checked_train_args(ctx, recipe=recipe, persona=persona, dataset=dataset)
    spec = spec_from_recipe(ctx.settings, recipe, persona=persona, method=method, dataset=dataset, max_steps=max_steps)
    manager = JobManager(ctx.settings)
    try:
        job = manager.get(manager.submit(spec, executor, requester=ctx.requester.user))
        return {"job_id": job.id, "name": job.name, "executor": job.executor, "state": job.state,
                "output_dir": str(spec.output_dir), "message": describe(job)}
    finally:
        manager.close()
