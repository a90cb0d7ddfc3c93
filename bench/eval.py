"""Eval throughput: the naive one-prompt-at-a-time torch loop vs batched torch vs the llama.cpp server.

Usage: python bench/eval.py [--model smollm2|tiny] [--prompts 32] [--new-tokens 48] [--json OUT]
(the defaults are evaluate_adapter's: 32 held-out prompts, up to 48 new tokens each)
Prints prompts/s and generated tokens/s for each path on the same prompts in the same run, and the ratios to the
naive loop (target >= 10x for the fastest path). Every path is greedy, stops each answer at its end token or
--new-tokens, and counts the tokens it generated (the end token included; batch padding after it is not).
The naive loop is one plain fp32 `generate` per prompt; "batched" is what evaluation runs (one left-padded batch,
inference mode, a bf16 copy of the model where the CPU has bf16). The llama.cpp path serves the packaged SmolLM2 GGUF (Q4_1,
what `selftune serve` runs) with one slot per prompt; it is skipped for models without a GGUF.
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


def timed(fn: object, *args: object, **kwargs: object) -> tuple[float, list[tuple[str, int]]]:
    """(seconds, [(answer, generated tokens)]) of one call."""
    start = time.perf_counter()
    answers = fn(*args, **kwargs)  # type: ignore[operator]
    return time.perf_counter() - start, answers


def served(prompts: list, new_tokens: int, threads: int) -> tuple[float, list[tuple[str, int]]] | None:
    """(seconds, answers) through a llama.cpp server on the packaged SmolLM2 GGUF, or None when there is none."""
    from skills.evaluate.generate import answer_served
    from skills.export.run import base_gguf_for
    from skills.export.serve import LlamaServer

    gguf = base_gguf_for("smollm2")
    with LlamaServer(gguf, n_ctx=256 * len(prompts), threads=threads, parallel=len(prompts)) as server:
        client = server.client().with_options(timeout=900)  # every prompt waits for the whole batch on 2 busy cores
        answer_served(client, prompts[:2], max_new_tokens=2)  # warm-up
        return timed(answer_served, client, prompts, max_new_tokens=new_tokens)


def main() -> None:
    """Run every generation path on the same prompts and print the side-by-side rates."""
    import torch

    from skills.evaluate.generate import answer_batch, answer_one_by_one
    from skills.models import load_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--prompts", type=int, default=32, help="evaluate_adapter's limit")
    parser.add_argument("--new-tokens", type=int, default=48, help="evaluate_adapter's max_new_tokens")
    parser.add_argument("--models-dir", type=Path, default=MODELS)
    parser.add_argument("--json", type=Path, help="Write the raw measurements here.")
    args = parser.parse_args()
    threads = int(os.environ.get("OMP_NUM_THREADS", "1"))
    torch.manual_seed(0)
    model, tok = load_model(args.model, args.models_dir)
    prompts = prompts_of(args.prompts)
    answer_batch(model, tok, prompts[:2], max_new_tokens=2)  # warm-up (both precisions)
    answer_batch(model, tok, prompts[:2], max_new_tokens=2, fast=False)
    runs: dict[str, tuple[float, list[tuple[str, int]]] | None] = {}
    for label, fn in (("naive loop", answer_one_by_one), ("batched", answer_batch)):
        runs[label] = timed(fn, model, tok, prompts, max_new_tokens=args.new_tokens)
    del model
    runs["llama.cpp"] = served(prompts, args.new_tokens, threads) if args.model == "smollm2" else None
    print(f"model {args.model}, {args.prompts} prompts x up to {args.new_tokens} new tokens (greedy, stop at the end"
          f" token), {threads} thread(s)")
    rates: dict[str, dict[str, float]] = {}
    for label, run in runs.items():
        if run is None:
            print(f"{label:>10}: skipped (no GGUF for this model)")
            continue
        seconds, answers = run
        tokens = sum(n for _, n in answers)
        rates[label] = {"prompts_per_s": len(answers) / seconds, "tokens_per_s": tokens / seconds,
                        "tokens": tokens, "seconds": seconds}
        print(f"{label:>10}: {rates[label]['prompts_per_s']:8.2f} prompts/s {rates[label]['tokens_per_s']:8.1f} tokens/s"
              f" ({tokens} tokens generated in {seconds:.1f} s)")
    naive = rates["naive loop"]["prompts_per_s"]
    best = max(rates, key=lambda label: rates[label]["prompts_per_s"])
    print(f"fastest path {best}: {rates[best]['prompts_per_s'] / naive:.2f}x the naive loop's prompts/s,"
          f" {rates[best]['tokens_per_s'] / rates['naive loop']['tokens_per_s']:.2f}x its tokens/s (target >= 10x)")
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "rates": rates}))


if __name__ == "__main__":
    main()
