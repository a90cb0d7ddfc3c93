"""A newcomer's first minutes: `make install`'s one-time setup, then the first reply in a fresh state dir.

    python bench/firstrun.py [--cache DIR] [--baseline] [--json OUT]

1. `make install` with an empty machine cache (SELFTUNE_CACHE_DIR in a temp folder). The venv is already
   installed (`make bench` installs it first), so this times what install adds on a new machine: `selftune
   setup` converting SmolLM2 and distilling the recall embedder. `--cache DIR` skips it and uses DIR.
2. `selftune chat "hi"` in a fresh state dir (a temp SELFTUNE_HOME): seconds from the start of the process to
   the first byte of the reply, and to its exit (target < 15 s on 2 cores).
3. `--baseline`: the same first chat with an empty machine cache, as every new state dir met it before the
   cache existed (it prepares the models itself: minutes).
Wall times depend on the machine's load, printed beside them; CPU seconds do much less.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LIMIT_S = 900.0


def _env(cache: Path, home: Path) -> dict[str, str]:
    return {**os.environ, "SELFTUNE_CACHE_DIR": str(cache), "SELFTUNE_HOME": str(home), "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false", "ANONYMIZED_TELEMETRY": "False",
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}


def _cpu_of_children() -> float:
    usage = os.times()
    return usage.children_user + usage.children_system


def make_install(cache: Path, home: Path) -> tuple[float, float, str]:
    """Seconds of `make install` (venv already there: -o keeps make from reinstalling it), its CPU seconds, how."""
    venv = Path(sys.prefix)
    if (venv / "bin" / "selftune").is_file() and (REPO / "Makefile").is_file():
        argv = ["make", "-s", "-C", str(REPO), "install", f"VENV={venv}", "-o", str(venv / "bin" / ".installed")]
        how = "make install"
    else:  # not in a venv made by make: time the step make install runs
        argv, how = [sys.executable, "-m", "agent.cli.main", "setup"], "selftune setup"
    cpu, started = _cpu_of_children(), time.monotonic()
    proc = subprocess.run(argv, env=_env(cache, home), capture_output=True, text=True, timeout=LIMIT_S, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{how} failed: {(proc.stderr.strip().splitlines() or ['no output'])[-1]}")
    return time.monotonic() - started, _cpu_of_children() - cpu, how


def first_reply(cache: Path, home: Path) -> tuple[float, float, float, str]:
    """(seconds to the reply's first byte, seconds to exit, CPU seconds, the reply) of `selftune chat "hi"`."""
    cpu, started = _cpu_of_children(), time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "agent.cli.main", "chat", "hi"], env=_env(cache, home),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=REPO)
    watchdog = threading.Timer(LIMIT_S, proc.kill)
    watchdog.start()
    try:
        assert proc.stdout is not None
        first = proc.stdout.read(1)
        first_s = time.monotonic() - started
        reply = (first + proc.stdout.read()).decode(errors="replace").strip()
        proc.wait()
    finally:
        watchdog.cancel()
    if proc.returncode != 0 or not first:
        raise SystemExit(f"selftune chat \"hi\" ended with exit code {proc.returncode}: {reply[-200:]!r}")
    return first_s, time.monotonic() - started, _cpu_of_children() - cpu, reply


def main(argv: list[str] | None = None) -> int:
    """Measure and print the figures (and write them as JSON with --json)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, help="Use this (filled) machine cache instead of timing make install.")
    parser.add_argument("--baseline", action="store_true", help="Also time the first chat with an empty cache.")
    parser.add_argument("--json", type=Path, help="Write the figures to this file.")
    args = parser.parse_args(argv)
    doc: dict[str, object] = {"cpus": os.cpu_count(), "load_average": os.getloadavg()[0]}
    print(f"{os.cpu_count()} CPU(s), load average {os.getloadavg()[0]:.1f} at the start")
    with tempfile.TemporaryDirectory(prefix="selftune-firstrun-") as tmp:
        root = Path(tmp)
        cache = args.cache or root / "cache"
        if args.cache is None:
            seconds, cpu, how = make_install(cache, root / "setup-home")
            doc.update(install_s=round(seconds, 1), install_cpu_s=round(cpu, 1))
            print(f"make install (venv present, empty machine cache; ran {how}): {seconds:.1f} s, CPU {cpu:.1f} s")
        first_s, exit_s, cpu, reply = first_reply(cache, root / "fresh-home")
        doc.update(first_reply_s=round(first_s, 2), exit_s=round(exit_s, 2), chat_cpu_s=round(cpu, 1))
        line = f"first reply, fresh state dir after make install: {first_s:.1f} s (exit {exit_s:.1f} s, CPU {cpu:.1f} s)"
        if args.baseline:
            before_s, _, before_cpu, _ = first_reply(root / "empty-cache", root / "old-home")
            doc.update(baseline_first_reply_s=round(before_s, 2), baseline_cpu_s=round(before_cpu, 1))
            line += f" | without the machine cache {before_s:.1f} s (CPU {before_cpu:.1f} s)"
        print(line)
        print(f"reply: {reply[:80]!r}")
    doc["load_average_end"] = os.getloadavg()[0]
    if args.json:
        args.json.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
