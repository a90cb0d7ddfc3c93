"""Eval throughput: batched generation (one left-padded batch) vs a naive one-prompt-at-a-time loop.

Usage: python bench/eval.py [--model tiny|smollm2] [--prompts 16] [--new-tokens 32]
Prints prompts/s for both in the same run and their ratio (target >= 3x).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    """Run both generation strategies on the same prompts and print the side-by-side ratio."""
    import torch

    from skills.evaluate.generate import generate_batch, generate_one_by_one
    from skills.models import load_model

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--models-dir", type=Path, default=Path(".cache/models"))
    args = parser.parse_args()
    torch.manual_seed(0)
    model, tok = load_model(args.model, args.models_dir)
    prompts = [[{"role": "user", "content": f"Tell me fact number {i} about the sea{'!' * (i % 4)}"}]
               for i in range(args.prompts)]
    generate_batch(model, tok, prompts[:2], max_new_tokens=2)  # warm-up
    timings = {}
    for label, fn in (("naive loop", generate_one_by_one), ("batched", generate_batch)):
        start = time.perf_counter()
        fn(model, tok, prompts, max_new_tokens=args.new_tokens)
        timings[label] = args.prompts / (time.perf_counter() - start)
    for label, rate in timings.items():
        print(f"{label:>10}: {rate:8.2f} prompts/s")
    print(f"     ratio: {timings['batched'] / timings['naive loop']:8.2f}x (target >= 3x)")


if __name__ == "__main__":
    main()
