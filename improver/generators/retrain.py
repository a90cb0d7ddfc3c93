"""'Retrain with new data': train a fresh adapter for a persona through the job system, then propose serving it.

The proposal changes only adapters/served.toml; the evaluator decides whether it is served. The training
job runs through `skills.jobs.JobManager` (local subprocess or Ray), bounded by `wait_s`.
"""

from __future__ import annotations

from typing import Any

from config.errors import SelftuneError
from config.settings import Settings
from config.workspace import open_workspace
from improver.journal import JournalEntry
from improver.proposals import Draft


class RetrainGenerator:
    """Trains persona:<name>'s recipe on its current dataset and proposes the new adapter."""

    name = "retrain"

    def __init__(self, settings: Settings, wait_s: float | None = None) -> None:
        self.settings = settings
        self.wait_s = wait_s or settings.improver.round_budget_s

    def propose(self, target: str, history: list[JournalEntry]) -> Draft | None:
        """Submit the training job, wait for it, and draft the served-pointer change."""
        from skills.jobs.manager import JobManager
        from skills.jobs.submit import submit_training
        from skills.train.adapters import SERVED, set_served

        kind, _, persona = target.partition(":")
        if kind != "adapter":
            return None
        manager = JobManager(self.settings)
        try:
            doc = submit_training(self.settings, None, persona=persona, requester="improver", manager=manager)
            job = manager.wait(doc.job_id, timeout=self.wait_s)
        finally:
            manager.close()
        if job.state != "succeeded":
            raise SelftuneError(f"Retraining {persona} ended {job.state}: {job.error or 'no error message'}.")
        # job.adapter is the folder; served.toml holds registry ids ("name/version").
        text = set_served(open_workspace(self.settings).read(SERVED), persona, doc.adapter_id)
        return Draft(target=target, changes={SERVED: text}, generator=self.name,
                     rationale=f"retrained {persona} on {doc.dataset} (sha {doc.dataset_sha256[:12]}) in job {job.id}")

    def feedback(self, proposal: Any, verdict: Any) -> None:
        """Nothing to learn: a rejected adapter stays in the registry, unserved."""
