"""Benchmark: validate + convert a 200k-row JSONL vs `datasets.load_dataset("json")` on the same file.

Prints rows/s of each, the ratio (target: validate / load_dataset >= 1.0) and the peak RSS of validation
on files of two sizes in fresh processes (streaming: the peak must not grow with the file).
Run: .venv/bin/python bench/datasets.py [--rows 200000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parent.parent
# This file is named datasets.py: drop its folder from the path so `import datasets` finds the library.
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(REPO))

PEAK_RSS = """
import resource, sys
from skills.dataset.validate import validate_file
r = validate_file(sys.argv[1])
assert r.invalid == 0, r.errors[:2]
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def make_file(path: Path, rows: int) -> None:
    """A JSONL of varied single- and multi-turn chats, written once."""
    with path.open("w", encoding="utf-8") as f:
        for i in range(rows):
            msgs = [{"role": "system", "content": "You are a helpful assistant."}] if i % 3 == 0 else []
            for t in range(1 + i % 3):
                msgs.append({"role": "user", "content": f"Question {i}.{t}: how do I tune model number {i * 7 % 1000}?"})
                msgs.append({"role": "assistant", "content": f"Answer {i}.{t}: use a learning rate of {i % 9 + 1}e-4 "
                             "and watch the eval loss; stop when it rises." * (1 + i % 2)})
            f.write(json.dumps({"messages": msgs}) + "\n")


def timed(label: str, rows: int, fn) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn()
    seconds = time.perf_counter() - start
    print(f"{label:<34} {seconds:7.2f} s  {rows / seconds:>10,.0f} rows/s")
    return rows / seconds


def peak_rss(path: Path) -> float:
    out = subprocess.run([sys.executable, "-c", PEAK_RSS, str(path)], capture_output=True, text=True, check=True,
                         cwd=REPO)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    from datasets import load_dataset

    from skills.dataset.convert import convert_file
    from skills.dataset.validate import validate_file

    with tempfile.TemporaryDirectory() as tmp:
        big, small = Path(tmp) / "big.jsonl", Path(tmp) / "small.jsonl"
        make_file(big, args.rows)
        make_file(small, args.rows // 4)
        print(f"file: {args.rows:,} rows, {big.stat().st_size / 1e6:.1f} MB")
        ours = timed("selftune validate_file", args.rows, lambda: validate_file(big))
        timed("selftune convert -> sharegpt", args.rows, lambda: convert_file(big, Path(tmp) / "s.jsonl", "sharegpt"))
        theirs = timed("datasets.load_dataset('json')", args.rows,
                       lambda: load_dataset("json", data_files=str(big), split="train", cache_dir=f"{tmp}/hf"))
        print(f"ratio validate / load_dataset: {ours / theirs:.2f}  (target >= 1.0)")
        rss_small, rss_big = peak_rss(small), peak_rss(big)
        print(f"peak RSS of validate: {rss_small:.0f} MB at {args.rows // 4:,} rows, {rss_big:.0f} MB at {args.rows:,} rows"
              f"  (growth {rss_big - rss_small:+.0f} MB for 4x the rows)")


if __name__ == "__main__":
    main()
