"""Router overhead: command intents vs calling the skill directly (target < 20 ms), and LLM turns vs the
raw provider call (target < 10 %). Prints side-by-side numbers; run with `python bench/agent.py`."""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pluggy  # noqa: E402

from agent.llm_turn import TurnLimits  # noqa: E402
from agent.router import Router  # noqa: E402
from config.messages import IncomingMessage  # noqa: E402
from config.settings import Settings  # noqa: E402
from config.state import ensure_state_dir  # noqa: E402
from skills import hookspecs  # noqa: E402
from skills.context import SkillContext  # noqa: E402
from skills.providers.base import ChatResult  # noqa: E402
from skills.registry import load_registry  # noqa: E402

MODEL_LATENCY_S = 0.2  # a fast remote model's answer time


def jobs_status(job_id: str | None = None) -> dict:
    """A job's state."""
    return {"job_id": job_id or "job-1", "state": "running", "message": "Job is running: step 3/10."}


class Plugin:
    @hookspecs.hookimpl
    def register_skills(self, register):  # noqa: ANN001, ANN201
        register(jobs_status, skill_md={"name": "jobs.status", "permission": "read"})


class SleepyProvider:
    """Stands in for a model server that answers in MODEL_LATENCY_S."""

    name = "sleepy"

    def chat(self, messages, *, tools=None, max_tokens=None, temperature=0.0) -> ChatResult:  # noqa: ANN001
        time.sleep(MODEL_LATENCY_S)
        return ChatResult(text="Hello!", model="sleepy")


def timed(fn, n: int) -> float:  # noqa: ANN001
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    """Run both comparisons and print the ratios."""
    pm = pluggy.PluginManager("selftune")
    pm.add_hookspecs(hookspecs)
    pm.register(Plugin(), name="selftune:bench")
    registry = load_registry(pm=pm)
    with tempfile.TemporaryDirectory() as home:
        settings = Settings(home=Path(home), base_model="tiny")
        ensure_state_dir(settings)
        provider = SleepyProvider()
        router = Router(settings, registry=registry, provider=provider, limits=TurnLimits())
        ctx = SkillContext(settings=settings)
        direct = timed(lambda: registry.call("jobs.status", {"job_id": "job-1"}, ctx), 200)
        routed = timed(lambda: router.handle(IncomingMessage(text="how's job 1 going?", channel="bench")), 200)
        raw = timed(lambda: provider.chat([{"role": "user", "content": "hi"}]), 10)
        turn = timed(lambda: router.handle(IncomingMessage(text="tell me something nice", channel="bench2")), 10)
    print(f"command intent: skill direct {direct * 1e3:.2f} ms | via router {routed * 1e3:.2f} ms | "
          f"overhead {(routed - direct) * 1e3:.2f} ms (target < 20 ms)")
    print(f"LLM turn: raw provider {raw * 1e3:.1f} ms | via router {turn * 1e3:.1f} ms | "
          f"overhead {(turn / raw - 1) * 100:.1f} % (target < 10 %)")


if __name__ == "__main__":
    main()
