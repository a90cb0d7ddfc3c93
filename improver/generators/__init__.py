"""Generators propose one small change to a target: LLM edits, Optuna trials, retraining."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from improver.evaluator import Verdict
    from improver.journal import JournalEntry
    from improver.proposals import Draft, Proposal


class Generator(Protocol):
    """Proposes drafts for targets it knows; hears back the verdicts."""

    name: str

    def propose(self, target: str, history: list[JournalEntry]) -> Draft | None:
        """A draft for the target, or None when it has no new idea."""
        ...

    def feedback(self, proposal: Proposal, verdict: Verdict) -> None:
        """Learn from the evaluator's verdict (e.g. tell Optuna the trial's value)."""
        ...
