"""Regressions roll back by themselves: re-measure recent accepted changes and revert one that now hurts.

For each target's latest accepted change of the last `improver.regression_window_days`, the undo is proposed
and judged by the same evaluator process as any proposal; when undoing it measures better beyond the noise,
the change has regressed: its commit is reverted in the workspace, a served adapter it introduced is
re-served (the previous one), the journal records it, and each affected persona gets one sentence.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field

from config.errors import SelftuneError
from config.settings import Settings
from config.workspace import Workspace, open_workspace
from improver.eval_config import EvalConfig, from_settings
from improver.journal import JournalEntry
from improver.loop import in_effect, rollback, run_evaluator
from improver.proposals import Draft, ProposalRefused, create_proposal, delete_branch
from skills.train.adapters import SERVED, parse_served

log = logging.getLogger(__name__)
# Several retrain schedules may finish at once in one scheduler: their checks take turns, so none re-judges
# or reverts a change another has just reverted.
_CHECK_LOCK = threading.Lock()


class Rollback(BaseModel):
    """One automatic rollback: the journal entry, the personas it affects, and the sentence they are told."""

    entry: JournalEntry
    personas: list[str] = Field(default_factory=list)
    sentence: str
    reserved: list[str] = Field(default_factory=list, description="What re-serving the previous adapter did.")

    def notifications(self) -> list[dict[str, Any]]:
        """Outcomes for the scheduler's notification hook, one per affected persona."""
        return [{"persona": p, "status": "rolled back", "reason": self.sentence} for p in self.personas]


def in_window(settings: Settings, window_days: float | None = None) -> list[JournalEntry]:
    """The latest accepted change per target, still in effect and no older than the window."""
    days = window_days if window_days is not None else settings.improver.regression_window_days
    cutoff = (datetime.now(UTC) - timedelta(days=days)).isoformat(timespec="seconds")
    latest = {e.target: e for e in in_effect(settings)}
    return [e for e in latest.values() if e.ts >= cutoff]


def check_regressions(settings: Settings, eval_config: EvalConfig | None = None,
                      timeout_s: float | None = None, window_days: float | None = None) -> list[JournalEntry]:
    """Re-judge the window's accepted changes; revert each one whose undo now measures better beyond the noise."""
    return [r.entry for r in find_and_roll_back(settings, eval_config, timeout_s, window_days)]


def find_and_roll_back(settings: Settings, eval_config: EvalConfig | None = None, timeout_s: float | None = None,
                       window_days: float | None = None) -> list[Rollback]:
    """Like check_regressions, with who is affected and what they are told."""
    ws, cfg = open_workspace(settings), eval_config or from_settings(settings)
    done = []
    with _CHECK_LOCK:
        for entry in in_window(settings, window_days):
            reason = _regressed(settings, ws, cfg, entry, timeout_s or settings.improver.round_budget_s)
            if reason:
                done.append(_roll_back(settings, ws, entry, reason))
    return done


def _regressed(settings: Settings, ws: Workspace, cfg: EvalConfig, entry: JournalEntry, timeout_s: float) -> str:
    """Why the change regressed ('' when it still holds): the evaluator's verdict on undoing it."""
    parent = ws.repo.commit(entry.commit).parents[0]
    changes = {f: _blob_text(parent, f) for f in entry.files}
    try:
        undo = create_proposal(settings, ws, Draft(target=entry.target, changes=changes, generator="regression-check",
                                                   rationale=f"undo {entry.commit[:8]}"), cfg.allow_code_paths)
    except ProposalRefused as exc:  # the undo itself is out of bounds now (e.g. a link appeared): keep the change
        log.warning("regression check of %s (%s) cannot undo it: %s", entry.target, entry.commit[:8], exc)
        return ""
    try:
        verdict = run_evaluator(cfg, undo.branch, timeout_s)
    finally:
        delete_branch(ws, undo.branch)
    if verdict.verdict != "accept" or verdict.eval_base:  # a stand-in model's measurement never reverts by itself
        log.info("regression check of %s (%s): kept, %s", entry.target, entry.commit[:8], verdict.reason)
        return ""
    return verdict.reason


def _roll_back(settings: Settings, ws: Workspace, entry: JournalEntry, reason: str) -> Rollback:
    personas = affected_personas(ws, entry)
    done = rollback(settings, entry.commit, f"regression detected: {reason}")
    reserved = [reserve(settings, p) for p in personas] if entry.target.startswith("adapter:") else []
    when = entry.ts[:10]
    sentence = (f"I undid the improvement to {entry.target} from {when} (commit {entry.commit[:8]}) because it now "
                f"measures worse than before it ({reason.split('; ')[0]}); the previous version is back in place.")
    return Rollback(entry=done, personas=personas, sentence=sentence, reserved=reserved)


def affected_personas(ws: Workspace, entry: JournalEntry) -> list[str]:
    """Personas whose channels should hear about a change to this target."""
    from skills.personas import list_personas, load_persona

    kind, _, name = entry.target.partition(":")
    if kind == "persona":
        return [name]
    if kind == "recipe":
        return [p for p in list_personas(ws.path) if load_persona(ws.path, p).recipe == name]
    if kind == "adapter":
        commit = ws.repo.commit(entry.commit)
        before, after = _served_at(commit.parents[0]), _served_at(commit)
        return sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))
    return []


def reserve(settings: Settings, persona: str) -> str:
    """Serve what the workspace's pointer now names: local serving follows it; an Ollama model is refreshed."""
    from skills.export.ollama import server_version
    from skills.providers.persona import repoint_alias
    from skills.train.adapters import served_adapter

    if (sentence := repoint_alias(settings, persona)) is not None:  # a pulled base: re-point selftune-<persona>
        return f"{persona}: {sentence}"
    current = served_adapter(settings, persona)
    if server_version(settings.ollama.host) is None or current is None:
        return f"{persona}: local serving follows the served pointer ({current.id if current else 'base model'})"
    from skills.export.run import export_adapter

    try:
        export_adapter(settings, current.id, "ollama", name=f"selftune-{persona}")
    except SelftuneError as exc:
        return f"{persona}: Ollama model not refreshed: {exc}"
    return f"{persona}: Ollama model selftune-{persona} serves {current.id} again"


def _served_at(commit: Any) -> dict[str, str]:
    return parse_served(_blob_text(commit, SERVED) or "")


def _blob_text(commit: Any, path: str) -> str | None:
    try:
        return (commit.tree / path).data_stream.read().decode("utf-8")
    except KeyError:
        return None
