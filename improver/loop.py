"""The improvement loop: rounds of propose -> evaluate (separate process) -> merge+tag or delete -> journal.

Budgets: rounds (settings.improver.max_rounds), seconds per round (round_budget_s) and per proposal.
Kill switch: a STOP file in the state dir, or settings.improver.enabled = false; both are checked before
every proposal. A target whose last K attempts were all rejected (plateau_rejections) is skipped.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, Field

from config.errors import NotFound, SelftuneError
from config.settings import Settings
from config.workspace import AUTHOR, Workspace, _lock, open_workspace
from improver import journal
from improver.eval_config import EvalConfig, from_settings
from improver.evaluator import Verdict
from improver.generators import Generator
from improver.journal import JournalEntry
from improver.proposals import Draft, Proposal, ProposalRefused, create_proposal, delete_branch
from skills.personas import list_personas, load_persona

STOP_FILE = "STOP"
ALL_SKILLS = "skills"  # the target that stands for every skill the owner's traffic has something to say about
TAG_PREFIX = "improve/"
Progress = Callable[[str], None]


class RunSummary(BaseModel):
    """What a run did."""

    rounds: int = 0
    entries: list[JournalEntry] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


def stop_reason(settings: Settings) -> str | None:
    """Why the loop must not run now (kill switch), or None."""
    if not settings.improver.enabled:
        return "the improver is disabled (improver.enabled = false)"
    if (settings.home / STOP_FILE).exists():
        return f"the kill switch is on ({settings.home / STOP_FILE} exists; `selftune improve resume` removes it)"
    return None


def default_targets(settings: Settings, ws: Workspace) -> list[str]:
    """Personas with style markers to measure, and the workspace's recipes."""
    personas = [f"persona:{p}" for p in list_personas(ws.path) if load_persona(ws.path, p).style.any_of]
    recipes = [f"recipe:{p.stem}" for p in sorted((ws.path / "recipes").glob("*.toml"))]
    return personas + recipes


def default_generator(settings: Settings, target: str, skill_resolver: str = "") -> Generator:
    """The generator for a target kind: LLM edits for personas, Optuna for recipes, retrain for adapters, the
    owner's traffic (through the router named by `skill_resolver`) for skills."""
    kind = target.split(":", 1)[0]
    if kind == "skill" or target == ALL_SKILLS:
        from improver.generators.skill_examples import SkillExamplesGenerator
        from improver.skill_replay import resolver_factory

        return SkillExamplesGenerator(settings, resolver_factory(skill_resolver))
    if kind == "persona":
        from improver.generators.llm_edit import LLMEditGenerator

        return LLMEditGenerator(settings)
    if kind == "recipe":
        from improver.generators.optuna_hparams import OptunaRecipeGenerator

        return OptunaRecipeGenerator(settings)
    if kind == "adapter":
        from improver.generators.retrain import RetrainGenerator

        return RetrainGenerator(settings)
    raise NotFound(f"Unknown improvement target '{target}'; use persona:<name>, recipe:<name>, adapter:<persona>, "
                   "skill:<name> or skills.")


class Loop:
    """One run of the loop over some targets."""

    def __init__(self, settings: Settings, *, generator_for: Callable[[str], Generator] | None = None,
                 eval_config: EvalConfig | None = None, proposal_budget_s: float | None = None,
                 progress: Progress | None = None) -> None:
        self.settings = settings
        self.ws = open_workspace(settings)
        self.generator_for = generator_for or (lambda t: default_generator(settings, t, self.eval_config.skill_resolver))
        self.eval_config = eval_config or from_settings(settings)
        self.proposal_budget_s = proposal_budget_s or settings.improver.round_budget_s
        self.progress = progress or (lambda _msg: None)
        self._generators: dict[str, Generator] = {}

    def run(self, rounds: int | None = None, targets: list[str] | None = None) -> RunSummary:
        """Run up to `rounds` rounds (capped by settings.improver.max_rounds) over the targets."""
        summary = RunSummary()
        targets = self._expand(targets or default_targets(self.settings, self.ws), summary)
        if not targets:
            summary.notes.append("nothing to improve: no persona with style markers and no recipe in the workspace")
        first = journal.last_round(self.settings) + 1
        for number in range(first, first + min(rounds or self.settings.improver.max_rounds,
                                                    self.settings.improver.max_rounds)):
            if not self._round(number, targets, summary):
                break
            summary.rounds += 1
        return summary

    def _expand(self, targets: list[str], summary: RunSummary) -> list[str]:
        """'skills' becomes skill:<name> for each skill the log has failed phrasings or a repeated sequence for."""
        if ALL_SKILLS not in targets:
            return targets
        try:
            found = self._generator(ALL_SKILLS).targets()  # type: ignore[attr-defined]
        except Exception as exc:  # no router, no log: the other targets still run
            found = []
            summary.notes.append(f"cannot list skill targets: {_one_line(exc)}")
        if not found:
            summary.notes.append("no skill had failed requests or repeated sequences in the consented log")
        rest = [t for t in targets if t != ALL_SKILLS]
        return rest + [t for t in found if t not in rest]

    def _round(self, number: int, targets: list[str], summary: RunSummary) -> bool:
        deadline = time.monotonic() + self.settings.improver.round_budget_s
        active = [t for t in targets if not self._plateaued(t, summary)]
        if not active:
            summary.notes.append("every target has plateaued; stopping")
            return False
        for target in active:
            reason = stop_reason(self.settings)
            if reason or time.monotonic() >= deadline:
                summary.notes.append(reason or f"round {number} ran out of its time budget")
                return reason is None
            self.progress(f"round {number}: proposing for {target}")
            entry = self._attempt(number, target, deadline)
            if entry is not None:
                summary.entries.append(entry)
                self.progress(f"round {number}: {target} {entry.verdict}: {entry.reason}")
        return True

    def _plateaued(self, target: str, summary: RunSummary) -> bool:
        k = self.settings.improver.plateau_rejections
        if journal.consecutive_rejections(self.settings, target) >= k:
            note = f"{target} has plateaued ({k} rejections in a row); not proposing to it"
            if note not in summary.notes:
                summary.notes.append(note)
            return True
        return False

    def _generator(self, target: str) -> Generator:
        kind = "skill" if target == ALL_SKILLS else target.split(":", 1)[0]
        if kind not in self._generators:
            self._generators[kind] = self.generator_for(target)
        return self._generators[kind]

    def _attempt(self, number: int, target: str, deadline: float) -> JournalEntry | None:
        try:
            generator = self._generator(target)
            draft = generator.propose(target, journal.entries(self.settings, target=target))
        except Exception as exc:  # a generator failing is a crash of this attempt, not of the loop
            return self._record(number, target, "crash", f"generator failed: {_one_line(exc)}")
        if draft is None:
            return self._record(number, target, "rejected", "the generator had no new idea")
        try:
            proposal = create_proposal(self.settings, self.ws, draft, self.eval_config.allow_code_paths)
        except ProposalRefused as exc:  # checked before writing: nothing exists to evaluate or clean up
            return self._record(number, target, "rejected", str(exc))
        budget = min(self.proposal_budget_s, max(1.0, deadline - time.monotonic()))
        verdict = run_evaluator(self.eval_config, proposal.branch, budget)
        entry = self._settle(number, proposal, verdict, draft)
        try:
            generator.feedback(proposal, verdict)
        except Exception as exc:  # feedback is best effort; the verdict already stands
            self.progress(f"generator feedback failed: {_one_line(exc)}")
        return entry

    def _settle(self, number: int, proposal: Proposal, verdict: Verdict, draft: Draft) -> JournalEntry:
        commit, status = "", {"accept": "accepted", "reject": "rejected"}.get(verdict.verdict, "crash")
        if status == "accepted" and verdict.eval_base:
            # Measured on a stand-in model: what holds there may not hold on the served one, so it stays a suggestion.
            status, verdict.reason = "suggested", f"{verdict.reason}; kept as a suggestion, not applied"
        if status == "accepted":
            try:
                commit = merge_and_tag(self.ws, proposal, number, verdict.reason)
            except SelftuneError as exc:
                status, verdict.reason = "crash", str(exc)
        delete_branch(self.ws, proposal.branch)
        return self._record(number, proposal.target, status, verdict.reason, commit=commit, verdict=verdict,
                            proposal=proposal)

    def _record(self, number: int, target: str, status: str, reason: str, *, commit: str = "",
                verdict: Verdict | None = None, proposal: Proposal | None = None) -> JournalEntry:
        numbers = verdict.model_dump(include={"baseline", "candidate", "noise", "delta"}) if verdict else {}
        entry = JournalEntry(round=number, target=target, verdict=status, reason=reason, commit=commit,
                             files=proposal.files if proposal else [], proposal_id=proposal.id if proposal else "",
                             generator=proposal.generator if proposal else "", **numbers)
        return journal.record(self.settings, entry)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def merge_and_tag(ws: Workspace, proposal: Proposal, number: int, reason: str) -> str:
    """Squash the proposal onto main as one commit and tag it; returns the commit sha."""
    import git

    with _lock:
        repo = ws.repo
        if repo.active_branch.name != "main" or repo.is_dirty(untracked_files=False):
            raise SelftuneError(f"The workspace {ws.path} is not a clean main checkout; commit or discard its changes.")
        try:
            repo.git.merge("--squash", proposal.branch)
            repo.git.commit("-m", f"improve {proposal.target}: {reason} (proposal {proposal.id})",
                            f"--author={AUTHOR.name} <{AUTHOR.email}>")
        except git.GitCommandError as exc:
            repo.git.reset("--hard", "HEAD")  # undo a half-applied squash in the workspace repo only
            raise SelftuneError(f"Could not merge {proposal.branch}: {_one_line(exc)}.") from None
        sha = repo.head.commit.hexsha
        repo.create_tag(f"{TAG_PREFIX}r{number}-{proposal.id}", ref=sha)
        return sha


def run_evaluator(cfg: EvalConfig, ref: str, timeout_s: float) -> Verdict:
    """Run `python -m improver.evaluator REF` in its own process group; a timeout or garbage is a crash."""
    with tempfile.TemporaryDirectory(prefix="selftune-evaluator-") as tmp:
        cfg_path = Path(tmp) / "evaluator.json"
        cfg_path.write_text(cfg.model_dump_json(), encoding="utf-8")
        cmd = [sys.executable, "-m", "improver.evaluator", ref, "--config", str(cfg_path), "--scratch", tmp]
        env = {k: v for k, v in os.environ.items() if not _is_secret_var(k)}
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                cwd=tmp, start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            return Verdict(ref=ref, verdict="crash", reason=f"the evaluation exceeded its budget of {timeout_s:.0f} s")
    return _parse_verdict(ref, out, err)


def _is_secret_var(name: str) -> bool:
    upper = name.upper()
    return upper.startswith("SELFTUNE_") and any(s in upper for s in ("TOKEN", "KEY", "SECRET", "PASSWORD"))


def _parse_verdict(ref: str, out: str, err: str) -> Verdict:
    lines = [line for line in out.splitlines() if line.strip()]
    try:
        return Verdict.model_validate(json.loads(lines[-1]))
    except (IndexError, ValueError):
        tail = (err.strip().splitlines() or ["no output"])[-1]
        return Verdict(ref=ref, verdict="crash", reason=f"the evaluator gave no verdict ({tail[:200]})")


def rollback(settings: Settings, commit: str | None = None, reason: str = "rolled back on request") -> JournalEntry:
    """Revert an accepted improvement (default: the latest one still in effect) and journal it."""
    ws = open_workspace(settings)
    accepted = in_effect(settings)
    if commit is None:
        if not accepted:
            raise NotFound("There is no accepted improvement to roll back; `selftune improve journal` lists them.")
        target_entry = accepted[-1]
    else:
        matches = [e for e in accepted if e.commit.startswith(commit)]
        if not matches:
            raise NotFound(f"No accepted improvement in effect has commit {commit}; see `selftune improve journal`.")
        target_entry = matches[-1]
    revert_sha = ws.revert(target_entry.commit, f"rollback {target_entry.target}: {reason}")
    return journal.record(settings, JournalEntry(
        round=target_entry.round, target=target_entry.target, files=target_entry.files, verdict="rolled_back",
        reason=f"{reason} (reverted {target_entry.commit[:8]})", commit=revert_sha,
        proposal_id=target_entry.proposal_id, generator=target_entry.generator))


def in_effect(settings: Settings) -> list[JournalEntry]:
    """Accepted entries whose commit has not been rolled back yet, oldest first."""
    items = journal.entries(settings)
    reverted = {e.reason.rsplit("reverted ", 1)[-1].rstrip(")") for e in items if e.verdict == "rolled_back"}
    return [e for e in items if e.verdict == "accepted" and e.commit and e.commit[:8] not in reverted]
