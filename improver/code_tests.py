"""For proposals that change allowed code: the checkout's tests must pass, and no test may go missing.

Both checkouts run the same pinned test command with a JUnit report; a candidate that passes fewer tests,
skips more, or fails any is rejected (a test "fixed" by skipping or deselecting it is a hidden failure).
"""

from __future__ import annotations

import os
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

from pydantic import BaseModel

from improver.eval_config import EvalConfig


class TestCounts(BaseModel):
    """Outcome of one test run."""

    returncode: int
    passed: int = 0
    failed: int = 0
    skipped: int = 0


def run_tests(cfg: EvalConfig, checkout: Path) -> TestCounts:
    """Run cfg.test_command in a checkout (its code first on sys.path) and count outcomes."""
    report = checkout.parent / f"{checkout.name}-junit.xml"
    env = {**os.environ, "PYTHONPATH": str(checkout), "PYTHONDONTWRITEBYTECODE": "1"}
    try:
        proc = subprocess.run([*cfg.test_command, f"--junitxml={report}"], cwd=checkout, env=env,
                              capture_output=True, text=True, timeout=cfg.test_timeout_s)
    except subprocess.TimeoutExpired:
        return TestCounts(returncode=-1)
    counts = TestCounts(returncode=proc.returncode)
    if report.is_file():
        for suite in ET.parse(report).getroot().iter("testsuite"):
            total, skipped = int(suite.get("tests", 0)), int(suite.get("skipped", 0))
            failed = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
            counts.passed += total - skipped - failed
            counts.failed += failed
            counts.skipped += skipped
    return counts


def test_problems(cfg: EvalConfig, base_dir: Path, cand_dir: Path) -> list[str]:
    """Why the candidate's tests are not acceptable (empty when they are)."""
    base, cand = run_tests(cfg, base_dir), run_tests(cfg, cand_dir)
    if cand.returncode == -1:
        return [f"the tests did not finish within {cfg.test_timeout_s:.0f} s"]
    problems = []
    if cand.returncode != 0 or cand.failed:
        problems.append(f"the tests fail ({cand.failed} failing, exit {cand.returncode})")
    if cand.passed < base.passed:
        problems.append(f"fewer tests pass ({base.passed} -> {cand.passed}); a failure may be hidden")
    if cand.skipped > base.skipped:
        problems.append(f"more tests are skipped ({base.skipped} -> {cand.skipped})")
    return problems
