"""The evaluator: `python -m improver.evaluator PROPOSAL_REF [--config EVAL.json]`, run in its own process.

It sees only the proposal's git ref and its own configuration (never the generator's rationale), checks
the diff against the allowlist, checks formats, runs the project's tests for code changes, measures the
target's metric on held-out data for baseline and candidate, and prints one JSON verdict on stdout.
Anything it cannot establish is a rejection: the default is reject.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import git
from pydantic import BaseModel, Field

from improver import holdout
from improver.checks import file_problems
from improver.code_tests import test_problems
from improver.eval_config import EvalConfig
from improver.metrics import METRICS, MetricUnavailable, compare
from improver.proposals import ChangedFile, changed_files, scope_problems, target_of
from skills.personas import load_persona

log = logging.getLogger(__name__)


class Verdict(BaseModel):
    """The evaluator's decision on one proposal."""

    ref: str
    verdict: Literal["accept", "reject", "crash"]
    reason: str
    target: str = ""
    files: list[str] = Field(default_factory=list)
    metric: str = ""
    baseline: float | None = None
    candidate: float | None = None
    noise: float | None = None
    delta: float | None = None
    measured_on: str = Field("", description="The model whose scores decided; see `eval_base`.")
    served_on: str = Field("", description="The model users are served.")
    data: str = Field("", description="Which held-out data was used.")
    judge: dict | None = Field(None, description="The position-swapped judge's summary (persona proposals).")

    @property
    def eval_base(self) -> bool:
        """Measured on a smaller eval base rather than the served model: a suggestion, never applied by itself."""
        return bool(self.measured_on and self.served_on and self.measured_on != self.served_on)


def evaluate(cfg: EvalConfig, ref: str, scratch: Path | None = None) -> Verdict:
    """Judge one proposal branch against the main branch it was cut from."""
    repo = git.Repo(cfg.workspace)
    base = repo.git.merge_base("main", ref)
    files = changed_files(cfg.workspace, base, ref)
    verdict = Verdict(ref=ref, verdict="reject", reason="", files=[f.path for f in files])
    problems = scope_problems(files, cfg.allow_code_paths)
    kind, name = target_of(files, cfg.allow_code_paths) if files else ("none", "")
    verdict.target = f"{kind}:{name}"
    if not problems and kind == "mixed":
        problems = [f"it changes several targets ({name}); one target per proposal"]
    if problems:
        verdict.reason = "; ".join(problems)
        return verdict
    holdout.seed_defaults(cfg.holdout_dir)
    before = holdout.fingerprint(cfg.holdout_dir)
    with _checkouts(repo, base, ref, scratch) as (base_dir, cand_dir):
        verdict = _judge(cfg, verdict, files, kind, name, base_dir, cand_dir)
    if holdout.fingerprint(cfg.holdout_dir) != before:
        verdict.verdict, verdict.reason = "reject", "the held-out set changed during evaluation"
    return verdict


def _judge(cfg: EvalConfig, verdict: Verdict, files: list[ChangedFile], kind: str, name: str,
           base_dir: Path, cand_dir: Path) -> Verdict:
    problems = file_problems(cand_dir, files)
    if not problems and kind == "persona":
        problems = _grading_rule_changes(base_dir, cand_dir, name)
    if not problems and kind == "recipe":
        problems = _out_of_bounds(cand_dir, name)
    if not problems and kind == "skill":
        problems = _composed_problems(cand_dir, files)
    if not problems and kind == "code":
        problems = test_problems(cfg, base_dir, cand_dir)
    if problems:
        verdict.reason = "; ".join(problems)
        return verdict
    metric = METRICS.get(kind)
    if metric is None:
        verdict.reason = f"no metric measures {kind} changes yet, so nothing shows an improvement"
        return verdict
    try:
        measured = metric(cfg, base_dir, cand_dir, name)
    except MetricUnavailable as exc:
        verdict.reason = f"cannot measure: {exc}"
        return verdict
    result = compare(measured, cfg.bootstrap)
    verdict = verdict.model_copy(update={**result.model_dump(exclude={"improved"}), "measured_on": measured.measured_on,
                                         "served_on": measured.served_on, "data": measured.data,
                                         "judge": measured.judge})
    if measured.regressions:
        verdict.reason = "regression: " + "; ".join(measured.regressions)
    elif not result.improved:
        verdict.reason = f"{result.metric} delta {result.delta:+.4g} is within the noise floor {result.noise:.4g}"
    else:
        verdict.verdict = "accept"
        verdict.reason = f"{result.metric} {result.baseline:.4g} -> {result.candidate:.4g}"
    return _labelled(verdict)


def _labelled(verdict: Verdict) -> Verdict:
    """The journal keeps only the reason, so the judge's view and stand-in model/data labels go into it."""
    if verdict.judge and verdict.verdict == "accept":
        low, high = verdict.judge["ci95"]
        verdict.reason += f"; judge win rate {verdict.judge['win_rate']:.2f} (95% CI {low:.2f}-{high:.2f})"
    if verdict.data.startswith("the default"):
        verdict.reason += f"; on {verdict.data}"
    if verdict.eval_base:  # the label travels with every verdict measured on a stand-in model
        verdict.reason = f"measured on {verdict.measured_on}, not the served {verdict.served_on}: {verdict.reason}"
    return verdict


def _composed_problems(cand_dir: Path, files: list[ChangedFile]) -> list[str]:
    """A composed skill must parse and run only installed skills."""
    from skills.composed import is_composed, load_composed
    from skills.registry import SkillRegistrationError, load_registry, parse_skill_md

    problems: list[str] = []
    for f in files:
        path = cand_dir / f.path
        if f.status == "D" or path.name != "SKILL.md" or not is_composed(parse_skill_md(path.read_text("utf-8"), f.path)[0]):
            continue
        try:
            load_composed(path.parent, load_registry())
        except SkillRegistrationError as exc:
            problems.append(str(exc).rstrip("."))
    return problems


def _out_of_bounds(cand_dir: Path, name: str) -> list[str]:
    """The fine-tuning guides' bounds, checked before anything is trained or measured."""
    import tomllib

    from improver.bounds import bound_problems
    from skills.train.spec import Recipe

    recipe = Recipe.model_validate(tomllib.loads((cand_dir / "recipes" / f"{name}.toml").read_text(encoding="utf-8")))
    return [f"out of bounds: {p}" for p in bound_problems(recipe)]


def _grading_rule_changes(base_dir: Path, cand_dir: Path, name: str) -> list[str]:
    """A persona proposal may not move the goalposts: its [style] checks are what grades it."""
    if load_persona(base_dir, name).style != load_persona(cand_dir, name).style:
        return [f"personas/{name}.toml changes its own [style] checks, which grade it"]
    return []


@contextlib.contextmanager
def _checkouts(repo: git.Repo, base: str, ref: str, scratch: Path | None) -> Iterator[tuple[Path, Path]]:
    """Clean detached worktrees of baseline and candidate in a temp dir, removed afterwards."""
    tmp = Path(tempfile.mkdtemp(prefix="selftune-eval-", dir=scratch))
    dirs = (tmp / "baseline", tmp / "candidate")
    try:
        for path, sha in zip(dirs, (base, ref), strict=True):
            repo.git.worktree("add", "--detach", str(path), sha)
        yield dirs
    finally:
        for path in dirs:
            if path.exists():
                repo.git.worktree("remove", "--force", str(path))
        repo.git.worktree("prune")
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """Command line: print one JSON verdict; exit 0 for accept/reject, 1 when the evaluation crashed."""
    parser = argparse.ArgumentParser(prog="python -m improver.evaluator", description=__doc__.splitlines()[0])
    parser.add_argument("ref", help="the proposal branch, e.g. proposal/abc123")
    parser.add_argument("--config", type=Path, help="EvalConfig as JSON (default: from selftune settings)")
    parser.add_argument("--scratch", type=Path, help="folder for the temporary checkouts (default: system temp)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    try:
        cfg = _load_config(args.config)
        verdict = evaluate(cfg, args.ref, args.scratch)
    except Exception as exc:  # the loop records a crash; the one-line reason is what users see
        log.exception("evaluation of %s crashed", args.ref)
        verdict = Verdict(ref=args.ref, verdict="crash", reason=f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
    sys.stdout.write(verdict.model_dump_json() + "\n")
    return 1 if verdict.verdict == "crash" else 0


def _load_config(path: Path | None) -> EvalConfig:
    if path is not None:
        return EvalConfig.model_validate(json.loads(path.read_text(encoding="utf-8")))
    from config.settings import load_settings
    from improver.eval_config import from_settings

    return from_settings(load_settings())


if __name__ == "__main__":
    sys.exit(main())
