"""Router overhead: command intents vs calling the skill directly (target < 20 ms), and LLM turns vs the
raw provider call (target < 10 %). Fast chat (issue 20 item 4): `selftune chat "status" --json` with memory
on vs --no-memory (target < 1.0 s), a recall-using turn in the long-running process vs the raw provider call
(target < 100 ms added), and the tool schemas put into a plain chat prompt vs an action request. Streamed
chat on SmolLM2 (bench/_chat_latency.py): first token < 2 s and a 60-token answer < 8 s, model loaded.
Loops (issue 33): the share of degenerate SmolLM2 answers on 30 fixed prompts, greedy and unpenalised (before)
vs the chat decoding (after; target 0 loops); `--loop-prompts N` runs the first N (0 skips them).
Prints side-by-side numbers; run with `python bench/agent.py` (`--runs N` for the CLI timings)."""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pluggy  # noqa: E402

from agent.llm_turn import TurnLimits  # noqa: E402
from agent.memory_hooks import MemoryHooks  # noqa: E402
from agent.router import Router  # noqa: E402
from agent.tool_offer import relevant_skills  # noqa: E402
from agent.toolcalls import tools_schema  # noqa: E402
from config.messages import IncomingMessage  # noqa: E402
from config.settings import Settings  # noqa: E402
from config.state import ensure_state_dir  # noqa: E402
from memory.log import LoggedMessage  # noqa: E402
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


REPO = Path(__file__).resolve().parent.parent


def cli_chat_s(home: Path, *flags: str, runs: int) -> tuple[float, float]:
    """Median wall and CPU seconds of `selftune chat "status" --json` in a fresh process (what a script pays).

    CPU time (user + sys of the child) is the figure a busy shared machine does not inflate."""
    env = {**os.environ, "SELFTUNE_HOME": str(home), "PYTHONPATH": str(REPO)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # an installed selftune has its bytecode compiled
    walls, cpus = [], []
    for n in range(runs + 1):  # the first run (compiling bytecode, creating the state dir) is not counted
        before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
        subprocess.run([sys.executable, "-m", "agent.cli.main", "chat", "status", "--json", *flags], env=env,
                       check=True, capture_output=True, timeout=120)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if n:
            walls.append(time.perf_counter() - start)
            cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def fast_chat(runs: int, models_dir: Path | None) -> None:
    """The fast-chat figures: CLI command with/without memory, a recall turn in the long-running process."""
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        if models_dir is not None:  # reuse the exported embedding graph instead of exporting it here
            home.joinpath("models").symlink_to(models_dir.resolve(), target_is_directory=True)
        ensure_state_dir(Settings(home=home))
        (on, on_cpu), (off, off_cpu) = cli_chat_s(home, runs=runs), cli_chat_s(home, "--no-memory", runs=runs)
        print(f"selftune chat \"status\" --json: memory on {on:.2f} s wall / {on_cpu:.2f} s CPU | --no-memory "
              f"{off:.2f} s wall / {off_cpu:.2f} s CPU (median of {runs}; target < 1.0 s with memory on)")
        settings = Settings(home=home, base_model="tiny")
        hooks = MemoryHooks(settings, background=True)
        hooks.memory.log_many([LoggedMessage(text=f"note {i}: the deploy window is {i % 24}:00", channel="bench")
                               for i in range(500)])
        hooks.memory.sync()
        provider = SleepyProvider()
        router = Router(settings, registry=load_registry(), provider=provider, recall=hooks.recall,
                        log_hook=hooks.log, limits=TurnLimits())
        raw = timed(lambda: provider.chat([{"role": "user", "content": "hi"}]), 10)
        turn = timed(lambda: router.handle(IncomingMessage(text="when is the deploy window again?",
                                                           channel="bench")), 10)
        hooks.close()
    print(f"recall-using chat turn (long-running, 500 msgs, background indexer): raw provider {raw * 1e3:.1f} ms | "
          f"via router {turn * 1e3:.1f} ms | added {(turn - raw) * 1e3:.1f} ms (target < 100 ms)")
    every = load_registry().all()
    for text in ("hello, how are you today?", "I no longer need job-3, please cancel it"):
        offered = relevant_skills(text, every)
        print(f"tools in the prompt for {text!r}: {len(offered)} of {len(every)} "
              f"({len(json.dumps(tools_schema(offered)))} of {len(json.dumps(tools_schema(every)))} schema chars)")


def local_chat(runs: int, models_dir: Path | None) -> None:
    """The streamed SmolLM2 figures (first token, 60-token answer, prompt tokens), in this process."""
    from bench._chat_latency import run

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        if models_dir is not None:  # reuse the converted SmolLM2 instead of converting it here
            home.joinpath("models").symlink_to(models_dir.resolve(), target_is_directory=True)
        ensure_state_dir(Settings(home=home))
        for line in run(home, runs):
            print(line, flush=True)


LOOP_PROMPTS = [
    "hi", "tell me about storms at sea", "what can you do besides tuning?", "hello, how is your day going?",
    "write a short poem about the moon", "what is a LoRA adapter?", "give me three tips for sleeping better",
    "explain photosynthesis simply", "who are you?", "tell me a joke", "what's the weather like on Mars?",
    "describe a pirate ship", "how do I bake bread?", "what is machine learning?", "list some fruits",
    "why is the sky blue?", "say something nice", "what is your favourite colour?", "how do tides work?",
    "summarise the plot of Treasure Island", "thanks!", "what time is it?", "teach me a sailing knot",
    "how do I learn Python?", "what is the capital of France?", "I'm sorry for the confusion",
    "tell me about yourself", "can you help me plan a trip?", "what should I cook tonight?", "good night",
]


def loop_share(count: int, models_dir: Path | None, max_tokens: int = 128) -> list[str]:
    """How many of the first `count` fixed prompts SmolLM2 answers with a loop: before (greedy, unpenalised) and
    after (Settings.llm's chat decoding and loop guard)."""
    from agent.session import Session
    from config.repetition import repetition_cut
    from skills.providers import chat_decoding
    from skills.providers.local import LocalProvider

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        if models_dir is not None:
            home.joinpath("models").symlink_to(models_dir.resolve(), target_is_directory=True)
        settings = Settings(home=home)
        ensure_state_dir(settings)
        before = LocalProvider(settings.base_model, settings.models_dir, timeout_s=300)
        after = LocalProvider(settings.base_model, settings.models_dir, timeout_s=300, decoding=chat_decoding(settings))
        prompts = LOOP_PROMPTS[:count]
        loops = {"before": 0, "after": 0}
        seconds = {"before": 0.0, "after": 0.0}
        for prompt in prompts:
            messages = Session("bench").prompt_for(prompt).messages
            for label, provider in (("before", before), ("after", after)):
                start = time.perf_counter()
                result = provider.chat(messages, max_tokens=max_tokens)
                seconds[label] += time.perf_counter() - start
                loops[label] += bool(result.degenerate or repetition_cut(result.text) is not None)
    n = len(prompts)
    return [f"SmolLM2 degenerate answers on {n} fixed prompts ({max_tokens} tokens): greedy unpenalised "
            f"{loops['before']}/{n} ({loops['before'] / n:.0%}, {seconds['before'] / n:.1f} s/answer) | chat decoding "
            f"{loops['after']}/{n} ({loops['after'] / n:.0%}, {seconds['after'] / n:.1f} s/answer; target 0 loops)"]


def main() -> None:
    """Run the comparisons and print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="Fresh processes timed per CLI figure.")
    parser.add_argument("--models-dir", type=Path, default=None, help="A models/ folder with the exported ONNX graph.")
    parser.add_argument("--llm-runs", type=int, default=3, help="Streamed SmolLM2 answers timed (0 skips them).")
    parser.add_argument("--loop-prompts", type=int, default=len(LOOP_PROMPTS),
                        help="Fixed prompts answered by SmolLM2 before/after the loop controls (0 skips them).")
    parser.add_argument("--only-loops", action="store_true", help="Run only the loop comparison.")
    args = parser.parse_args()
    if args.loop_prompts:
        for line in loop_share(args.loop_prompts, args.models_dir):
            print(line, flush=True)
    if args.only_loops:
        return
    if args.llm_runs:
        local_chat(args.llm_runs, args.models_dir)
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
    fast_chat(args.runs, args.models_dir)


if __name__ == "__main__":
    main()
