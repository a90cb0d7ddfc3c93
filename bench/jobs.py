"""Benchmarks for jobs: submit-to-running latency (local, and Ray with --ray-address), and the asyncio
event-loop lag of a process that follows a running job. Targets: loop lag p99 < 50 ms; Ray overhead < 5 s.

    .venv/bin/python bench/jobs.py [--ray-address http://127.0.0.1:8265] [--real-worker]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

FAKE = Path(__file__).resolve().parent.parent / "tests" / "jobs" / "fake_worker.py"


def spec(home: Path, steps: int, step_s: float) -> dict:
    return {"name": "bench", "method": "lora", "dataset": str(FAKE), "output_dir": str(home / f"out-{time.time_ns()}"),
            "checkpoint_dir": str(home / f"ckpt-{time.time_ns()}"), "hyper": {"max_steps": steps, "save_steps": 5},
            "fake": {"step_s": step_s}}


def submit_to_running(manager, home: Path, executor: str, runs: int = 3) -> list[float]:
    """Seconds from submit() until the job is running (first event stored), per run."""
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        job_id = manager.submit(spec(home, 2, 0.01), executor)
        while manager.get(job_id).state == "queued" and time.perf_counter() - start < 120:
            time.sleep(0.01)
        out.append(time.perf_counter() - start)
        manager.wait(job_id, 120)
    return out


async def loop_lag_while_following(manager, home: Path) -> list[float]:
    """Lag samples (s) of a 10 ms ticker while this loop follows a 100-step job."""
    job_id = manager.submit(spec(home, 100, 0.03))
    lags: list[float] = []

    async def ticker() -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.01)
            lags.append(time.perf_counter() - before - 0.01)

    task = asyncio.create_task(ticker())
    events = [e async for e in manager.follow(job_id)]
    task.cancel()
    assert events and events[-1]["event"] == "done", events[-1:]
    return lags


def pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ray-address", default=None)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from config.settings import Settings
    from config.state import ensure_state_dir
    from skills.jobs import JobManager

    home = Path(tempfile.mkdtemp(prefix="bench-jobs-"))
    settings = Settings(home=home, base_model="tiny")
    settings.executor.ray_address = args.ray_address
    ensure_state_dir(settings)
    manager = JobManager(settings, worker=[str(FAKE)])
    local = submit_to_running(manager, home, "local")
    print(f"local submit->running   median {statistics.median(local):.2f} s  (runs {', '.join(f'{x:.2f}' for x in local)})")
    lags = asyncio.run(loop_lag_while_following(manager, home))
    p50, p99 = pct(lags, 0.5) * 1000, pct(lags, 0.99) * 1000
    print(f"loop lag while following  p50 {p50:.1f} ms  p99 {p99:.1f} ms  (target p99 < 50 ms: "
          f"{'ok' if p99 < 50 else 'MISSED'})")
    if args.ray_address:
        ray = submit_to_running(manager, home, "ray")
        overhead = statistics.median(ray) - statistics.median(local)
        print(f"ray submit->running     median {statistics.median(ray):.2f} s; overhead vs local {overhead:.2f} s "
              f"(target < 5 s: {'ok' if overhead < 5 else 'MISSED'}); ratio ray/local {statistics.median(ray) / statistics.median(local):.1f}x")


if __name__ == "__main__":
    main()
