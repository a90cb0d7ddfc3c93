"""Eval throughput: the naive one-prompt-at-a-time torch loop vs batched torch vs the llama.cpp server.

Usage: python bench/eval.py [--model smollm2|tiny] [--prompts 16] [--new-tokens 32] [--json OUT]
Prints prompts/s for each path on the same prompts in the same run and the ratios to the naive loop
(target >= 10x for the fastest path). The llama.cpp path serves the packaged SmolLM2 GGUF (what `selftune serve`
runs) with one slot per prompt; it is skipped for models without a GGUF.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
MODELS = Path(os.environ.get("SELFTUNE_TEST_MODEL_CACHE", REPO / ".cache" / "models"))


def prompts_of(n: int) -> list[list[dict]]:
    """Short chat prompts of slightly different lengths."""
    return [[{"role": "user", "content": f"Tell me fact number {i} about the sea{'!' * (i % 4)}"}] for i in range(n)]


def timed(fn: object, *args: object, **kwargs: object) -> tuple[float, list[str]]:
    """(seconds, answers) of one call."""
    start = time.perf_counter()
    answers = fn(*args, **kwargs)  # type: ignore[operator]
    return time.perf_counter() - start, answers


def served_rate(prompts: list, new_tokens: int, threads: int) -> float | None:
    """prompts/s through a llama.cpp server on the packaged SmolLM2 GGUF, or None when there is none."""
    from skills.evaluate.generate import generate_served
    from skills.export.run import base_gguf_for
    from skills.export.serve import LlamaServer

    gguf = base_gguf_for("smollm2")
    with LlamaServer(gguf, n_ctx=256 * len(prompts), threads=threads, parallel=len(prompts)) as server:
        client = server.client()
        generate_served(client, prompts[:2], max_new_tokens=2)  # warm-up
        seconds, _ = timed(generate_served, client, prompts, max_new_tokens=new_tokens)
    return len(prompts) / seconds


def main() -> None:
    """Run every generation path on the same prompts and print the side-by-side rates."""
    import torch

    from skills.evaluate.generate import generate_batch, generate_one_by_one
    from skills.models import load_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--models-dir", type=Path, default=MODELS)
    parser.add_argument("--json", type=Path, help="Write the raw measurements here.")
    args = parser.parse_args()
    threads = int(os.environ.get("OMP_NUM_THREADS", "1"))
    torch.manual_seed(0)
    model, tok = load_model(args.model, args.models_dir)
    prompts = prompts_of(args.prompts)
    generate_batch(model, tok, prompts[:2], max_new_tokens=2)  # warm-up
    rates: dict[str, float | None] = {}
    for label, fn in (("naive loop", generate_one_by_one), ("batched", generate_batch)):
        seconds, _ = timed(fn, model, tok, prompts, max_new_tokens=args.new_tokens)
        rates[label] = args.prompts / seconds
    del model
    rates["llama.cpp"] = served_rate(prompts, args.new_tokens, threads) if args.model == "smollm2" else None
    print(f"model {args.model}, {args.prompts} prompts x {args.new_tokens} new tokens, {threads} thread(s)")
    for label, rate in rates.items():
        shown = "skipped (no GGUF for this model)" if rate is None else f"{rate:8.2f} prompts/s"
        print(f"{label:>10}: {shown}")
    naive = rates["naive loop"] or 1.0
    best = max((label for label in rates if rates[label]), key=lambda label: rates[label] or 0.0)
    print(f"fastest path {best}: {(rates[best] or 0.0) / naive:.2f}x the naive loop (target >= 10x)")
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "prompts_per_s": rates}))


if __name__ == "__main__":
    main()
