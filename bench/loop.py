"""The self-improvement loop end to end: `selftune simulate`, every night measured on the hidden holdout.

Usage: python bench/loop.py [--smollm2] [--nights 3] [--users 3] [--home DIR] [--json OUT]
Default: the tiny model, 3 nights (~2-4 min on 2 cores; checks the loop, not quality). The curve in docs/evaluation.md:
`python bench/loop.py --smollm2 --nights 7` (about 23 minutes on 2 CPU cores). Prints, side by side from the same
run, each hidden-holdout metric on night 0 and on the last night, the worst served night's judge win rate vs
night 0, and what became of the poisoned night. The state dir defaults to bench/results/loop-home (git-ignored);
the report (table, one PNG per metric, JSON) lands in its artifacts/reports/simulate-<time>/.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MODELS = Path(os.environ.get("SELFTUNE_TEST_MODEL_CACHE", REPO / ".cache" / "models"))
METRICS = ("thumbs_up_rate", "adherence", "judge_win_rate", "forgetting_accuracy")


def simulate(home: Path, nights: int, users: int, tiny: bool) -> dict:
    """Run `selftune simulate --json` in a process of its own on `home`; its JSON document."""
    if not (home / "models").exists():
        home.mkdir(parents=True, exist_ok=True)
        MODELS.mkdir(parents=True, exist_ok=True)
        (home / "models").symlink_to(MODELS, target_is_directory=True)  # converted models are shared, not rebuilt
    env = {k: v for k, v in os.environ.items() if not k.startswith("SELFTUNE_")}
    env.update(SELFTUNE_HOME=str(home), PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1", MPLBACKEND="Agg")
    argv = [sys.executable, "-m", "agent.cli.main", "simulate", "--nights", str(nights), "--users", str(users),
            "--json"] + (["--tiny"] if tiny else [])
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=home.parent)
    doc = json.loads(proc.stdout or "{}") if proc.stdout.strip().startswith("{") else {}
    if proc.returncode != 0 or not doc.get("ok"):
        raise SystemExit(f"simulate failed: {doc.get('error') or proc.stderr.strip()[-500:]}")
    return doc


def summary_lines(doc: dict) -> list[str]:
    """The side-by-side lines run_all.py reads: night 0 | last night for each metric."""
    entries = doc["entries"]
    first, last = entries[0]["holdout"], entries[-1]["holdout"]
    lines = [f"model {doc['base_model']}, {doc['nights']} nights, {doc['users']} users, judge {doc['judge']}"]
    lines += [f"{m}: night 0 {first[m]:.3f} | night {entries[-1]['night']} {last[m]:.3f}" for m in METRICS]
    served = [e for e in entries[1:] if e["served"] != entries[0]["served"]]
    worst = min((e["holdout"]["judge_win_rate"] for e in served), default=0.5)
    lines.append(f"worst served night win rate vs night 0: {worst:.3f} (0.5 = as good as night 0)")
    if doc.get("poison"):
        lines.append(f"poisoned night {doc['poison']['night']}: {doc['poison']['outcome']}")
    lines.append(f"wall time {doc['seconds']:.1f} s; report {doc['report_dir']}")
    return lines


def main() -> None:
    """Run the simulation and print night 0 beside the last night."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smollm2", action="store_true", help="SmolLM2-135M (the curve in docs/evaluation.md) instead of tiny.")
    parser.add_argument("--nights", type=int, default=3)
    parser.add_argument("--users", type=int, default=3)
    parser.add_argument("--home", type=Path, default=REPO / "bench" / "results" / "loop-home",
                        help="State dir the simulation and its report live in.")
    parser.add_argument("--json", type=Path, help="Write the simulation's JSON document here.")
    args = parser.parse_args()
    doc = simulate(args.home.resolve(), args.nights, args.users, tiny=not args.smollm2)
    print("\n".join(summary_lines(doc)))
    if args.json:
        args.json.write_text(json.dumps(doc, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
