"""Stand-in skills with the contract's names, registered through a real pluggy PluginManager."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

import pluggy

from config.errors import UsageError
from config.names import check_name
from skills import hookspecs
from skills.context import SkillContext
from skills.dataset.sources import parse_plan
from skills.paths import PathArg, ReadPath
from skills.registry import SkillRegistry, load_registry

CALLS: list[tuple[str, dict[str, Any]]] = []
# Typed like the real skills' arguments (skills.paths): a confined caller's file is confined, a source is not.
DatasetFile = Annotated[str, PathArg("read", unless=lambda value: parse_plan(value, here="here") is not None)]


def train_submit(persona: str, dataset: DatasetFile, method: str | None = None, ctx: SkillContext | None = None) -> dict:
    """Submit a training job for a persona on a dataset (routing only: flows that start jobs use the real skill
    behind the fake trainer process, see tests/discord and tests/agent/test_chat_tune.py)."""
    check_name(persona, "persona")  # the real skill's boundary rule: a persona is a name, never a path
    if method not in (None, "lora", "qlora", "dpo", "kto", "full"):
        raise UsageError(f"Unknown method '{method}'.")
    CALLS.append(("train.submit", {"persona": persona, "dataset": dataset, "method": method}))
    return {"job_id": "job-1", "persona": persona, "state": "queued"}


def jobs_status(job_id: str | None = None) -> dict:
    """A job's state and progress."""
    CALLS.append(("jobs.status", {"job_id": job_id}))
    return {"job_id": job_id or "job-1", "state": "running", "message": f"Job {job_id or 'job-1'} is running: step 3/10."}


def jobs_cancel(job_id: str | None = None) -> dict:
    """Cancel a job."""
    CALLS.append(("jobs.cancel", {"job_id": job_id}))
    return {"message": f"Cancelled {job_id or 'the latest job'}."}


def export_run(adapter: str, to: str = "ollama") -> dict:
    """Export an adapter."""
    CALLS.append(("export.run", {"adapter": adapter, "to": to}))
    return {"message": f"Exported {adapter} to {to}."}


def eval_run(adapter: str) -> dict:
    """Evaluate an adapter."""
    CALLS.append(("eval.run", {"adapter": adapter}))
    return {"message": f"Evaluated {adapter}."}


def dataset_validate(path: ReadPath) -> dict:
    """Validate a dataset file."""
    rows = Path(path).read_text(encoding="utf-8").splitlines()
    CALLS.append(("dataset.validate", {"path": path}))
    return {"path": path, "rows": len(rows), "valid": len(rows), "invalid": 0, "sample": rows[0] if rows else ""}


SKILLS = [
    (train_submit, {"name": "train.submit", "permission": "train"}),
    (jobs_status, {"name": "jobs.status", "permission": "read", "effects": "none"}),
    (jobs_cancel, {"name": "jobs.cancel", "permission": "train"}),
    (export_run, {"name": "export.run", "permission": "train"}),
    (eval_run, {"name": "eval.run", "permission": "train"}),
    (dataset_validate, {"name": "dataset.validate", "permission": "read", "effects": "none"}),
]


@lru_cache(maxsize=1)
def _real() -> SkillRegistry:
    return load_registry()


def declared(name: str) -> dict[str, Any]:
    """How the real skill of that name is reached (its SKILL.md routing fields): fakes are routed like it."""
    real = _real()
    return real.get(name).declaration.model_dump(exclude_defaults=True) if name in real else {}


class Plugin:
    @hookspecs.hookimpl
    def register_skills(self, register):  # noqa: ANN001, ANN201
        for function, meta in SKILLS:
            register(function, skill_md={**declared(meta["name"]), **meta})


def fake_registry() -> SkillRegistry:
    """A registry holding only the fake skills."""
    CALLS.clear()
    pm = pluggy.PluginManager("selftune")
    pm.add_hookspecs(hookspecs)
    pm.register(Plugin(), name="selftune:fake")
    registry = load_registry(pm=pm)
    assert not registry.errors, registry.errors
    return registry
