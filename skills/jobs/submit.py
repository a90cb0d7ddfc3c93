"""The one way to start training: recipe + overrides + persona + dataset → a checked TrainSpec → a job.

The `train.submit` skill, `selftune train`, the demo, the nightly retrain and the improver all call
`submit_training`, so they refuse the same bad input with the same sentence and return the same document.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from config.errors import UsageError
from config.settings import Settings
from skills.jobs.manager import JobManager
from skills.jobs.store import Job


class TrainingJob(BaseModel):
    """What every entry point returns for a training job (at submit, and again after waiting for it)."""

    model_config = ConfigDict(extra="forbid")
    job_id: str = Field(description="Id to follow with `selftune jobs show|logs ID`.")
    adapter_id: str = Field(description="'name/version' the adapter is registered under when the job succeeds.")
    adapter_name: str = Field(description="Adapter name (registry folder).")
    adapter_version: str = Field(description="Version reserved for this job at submit time (v1, v2, ...).")
    persona: str | None = Field(description="Persona the adapter is trained for.")
    method: str = Field(description="lora | qlora | dpo | full.")
    recipe: str | None = Field(description="Recipe the spec was built from.")
    base_model: str = Field(description="Base model the adapter is trained on.")
    executor: str = Field(description="local or ray.")
    dataset: str = Field(description="Training data file.")
    dataset_sha256: str = Field(description="sha256 of the training data when the job was submitted.")
    dataset_rows: int = Field(description="Training rows counted at submit.")
    max_steps: int | None = Field(description="Optimizer steps, or None when training by epochs.")
    output_dir: str = Field(description="Folder the finished adapter appears in.")
    state: str = Field(description="queued | running | succeeded | failed | cancelled.")
    progress: dict[str, Any] = Field(description="Latest step, loss, ETA ... reported by the worker.")
    adapter: str | None = Field(description="The finished adapter folder, once the job succeeded.")
    error: str | None = Field(description="Why the job failed, in one sentence.")
    message: str = Field(description="One sentence about the job for people.")

    @classmethod
    def of(cls, job: Job) -> TrainingJob:
        """The document for a job submitted through submit_training."""
        from skills.jobs.format import describe

        spec = job.spec
        steps = (spec.get("hyper") or {}).get("max_steps", -1)
        return cls(
            job_id=job.id, adapter_id=f"{spec['name']}/{spec['version']}", adapter_name=spec["name"],
            adapter_version=spec["version"], persona=spec.get("persona"), method=spec["method"],
            recipe=spec.get("recipe"), base_model=spec["base_model"], executor=job.executor,
            dataset=spec["dataset"], dataset_sha256=spec["dataset_sha256"], dataset_rows=spec.get("dataset_rows", 0),
            max_steps=steps if steps > 0 else None, output_dir=spec["output_dir"], state=job.state,
            progress=job.progress, adapter=job.adapter, error=job.error, message=describe(job),
        )


def check_bounds(max_steps: int | None) -> None:
    """A step count, when given, is at least 1 (0 or a negative number is never read as 'use epochs')."""
    if max_steps is not None and max_steps < 1:
        raise UsageError(f"--max-steps must be at least 1 (got {max_steps}); leave it out to train for the "
                         "recipe's epochs.")


def count_rows(settings: Settings, dataset: Path, method: str) -> int:
    """Rows of the training data, refused with one sentence when they are fewer than train.min_rows."""
    from skills.train.data import DatasetInvalid, kind_of, load_rows

    rows = len(load_rows(dataset, kind_of(method)))  # also refuses malformed rows now
    minimum = settings.train.min_rows
    if rows < minimum:
        raise DatasetInvalid(f"Dataset {dataset} has {rows} row{'s' if rows != 1 else ''} and training needs at "
                         f"least {minimum} (train.min_rows); add examples or build a bigger dataset.")
    return rows


def _refuse_holdout(settings: Settings, spec: Any) -> None:
    """The evaluator-only sets under holdout/ are never training data (else the gate would measure on seen rows)."""
    holdout = settings.holdout_dir.resolve()
    for path in (spec.dataset, spec.eval_dataset):
        if path is not None and Path(path).resolve().is_relative_to(holdout):
            raise UsageError(f"{path} is in the evaluator-only folder {holdout}, which training never reads; "
                             "train on a dataset outside holdout/.")


def _system_prompt(settings: Settings, persona: str | None) -> str | None:
    """The persona's system prompt now (recorded in the adapter's manifest for export), if there is a persona."""
    if not persona:
        return None
    from skills.personas import load_persona

    return load_persona(settings.workspace_dir, persona).system_prompt or None


def submit_training(
    settings: Settings, recipe: str | None = None, *, persona: str | None = None, method: str | None = None,
    dataset: str | Path | None = None, executor: str | None = None, requester: str | None = None,
    manager: JobManager | None = None, recipe_file: Path | None = None, **overrides: Any,
) -> TrainingJob:
    """Build, check and submit one training job; its adapter version is reserved before the job exists."""
    from skills.train.spec import spec_from_recipe
    from skills.train.versions import bind_version, release_version, reserve_version

    check_bounds(overrides.get("max_steps"))
    spec = spec_from_recipe(settings, recipe, persona=persona, method=method, dataset=dataset,
                            recipe_file=recipe_file, **overrides)
    _refuse_holdout(settings, spec)
    rows = count_rows(settings, spec.dataset, spec.method)
    own = manager is None
    manager = manager or JobManager(settings)
    try:
        manager.check_executor(executor or settings.executor.kind)
        version = reserve_version(settings, spec.name, overrides.get("version"))
        update: dict[str, Any] = {"version": version, "dataset_rows": rows,
                                  "system_prompt": _system_prompt(settings, spec.persona)}
        if spec.output_dir == settings.artifacts_dir / "adapters" / spec.name / spec.version:  # not given by hand
            update["output_dir"] = spec.output_dir.parent / version
        spec = spec.model_copy(update=update)
        try:
            job_id = manager.submit(spec, executor, requester=requester)
        except BaseException:
            release_version(settings, spec.name, version)
            raise
        bind_version(settings, spec.name, version, job_id)
        return TrainingJob.of(manager.get(job_id))
    finally:
        if own:
            manager.close()
