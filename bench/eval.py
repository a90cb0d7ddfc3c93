"""Eval throughput: the naive one-prompt-at-a-time torch loop vs batched torch vs the llama.cpp server.

Usage: python bench/eval.py [--model smollm2|tiny] [--prompts 32] [--new-tokens 48] [--json OUT]
(the defaults are evaluate_adapter's: 32 held-out prompts, up to 48 new tokens each)
Prints prompts/s and generated tokens/s for each path on the same prompts in the same run, and the ratios to the
naive loop (target >= 10x for the fastest path). Every path is greedy, stops each answer at its end token or
--new-tokens, and counts the tokens it generated (the end token included; batch padding after it is not).
The naive loop is one plain fp32 `generate` per prompt; "batched" is what evaluation runs (one left-padded batch,
inference mode, a bf16 copy of the model where the CPU has bf16). The llama.cpp path serves the packaged SmolLM2 GGUF (Q4_1,
what `selftune serve` runs) with one slot per prompt; it is skipped for models without a GGUF.

`--judge` measures the judge instead (docs/evaluation-judge.md): the text judge and the log-probability judge on
the same model, asked on PAIRS (a right and a wrong answer to the same question) in both orders; per judge its
first-position rate, the agreement between its two orders, how often it preferred the right answer, and whether
the gate's default limits would trust it.
    python bench/eval.py --judge --model smollm2 --model gemma3-270m [--json OUT]
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


# (question, a right answer, a wrong one): wrong facts, wrong sums, off-topic and broken answers.
PAIRS = [
    ("What is the capital of France?", "The capital of France is Paris.", "The capital of France is Berlin."),
    ("What is 2 plus 2?", "2 plus 2 is 4.", "2 plus 2 is 7."),
    ("What colour is the sky on a clear day?", "It is blue.", "It is green with purple stripes."),
    ("How many legs does a spider have?", "A spider has eight legs.", "A spider has three legs."),
    ("What do bees make?", "Bees make honey.", "Bees make bricks."),
    ("What is the opposite of hot?", "The opposite of hot is cold.", "The opposite of hot is Tuesday."),
    ("Which planet do we live on?", "We live on Earth.", "We live on the Sun."),
    ("What is 10 minus 3?", "10 minus 3 is 7.", "10 minus 3 is 12."),
    ("Name a fruit that is yellow.", "A banana is yellow.", "A brick is yellow."),
    ("What do you use to write on paper?", "A pen or a pencil.", "A bathtub."),
    ("How many days are in a week?", "There are seven days in a week.", "There are forty days in a week."),
    ("What is frozen water called?", "Frozen water is called ice.", "Frozen water is called smoke."),
    ("Say hello politely.", "Hello, nice to meet you!", "Go away, I will not talk to you."),
    ("What is the largest ocean?", "The Pacific Ocean is the largest.", "The Sahara is the largest ocean."),
    ("What animal says meow?", "A cat says meow.", "A cow says meow."),
    ("What is 3 times 3?", "3 times 3 is 9.", "3 times 3 is 33."),
    ("Which season is the coldest?", "Winter is the coldest season.", "Summer is the coldest season."),
    ("What do plants need to grow?", "Water, light and soil.", "Plants need nothing, they grow from music."),
    ("Translate 'gracias' to English.", "Thank you.", "Goodbye forever."),
    ("What is the first letter of the alphabet?", "The first letter is A.", "The first letter is Q."),
    ("Where does the sun rise?", "The sun rises in the east.", "The sun rises under the sea."),
    ("How many hours are in a day?", "A day has 24 hours.", "A day has 5 hours."),
    ("Give one word for a baby dog.", "Puppy.", "asdf qwer zxcv."),
    ("What is the boiling point of water at sea level in Celsius?", "100 degrees Celsius.", "3 degrees Celsius."),
]


def judge_bias(model_names: list[str], models_dir: Path) -> dict[str, dict[str, dict]]:
    """Per model and judge kind: first-position rate, order agreement, right-answer rate, trust at the defaults."""
    from config.settings import EvalConfig
    from skills.evaluate.local_judge import LogprobJudge, TextJudge
    from skills.models import load_model

    limits = EvalConfig()
    prompts = [[{"role": "user", "content": q}] for q, _, _ in PAIRS]
    right, wrong = [r for _, r, _ in PAIRS], [w for _, _, w in PAIRS]
    out: dict[str, dict[str, dict]] = {}
    for name in model_names:
        model, tok = load_model(name, models_dir)
        model.eval()
        out[name] = {}
        for kind, judge in (("text", TextJudge(model, tok)), ("logprob", LogprobJudge(model, tok))):
            out[name][kind] = _bias_of(kind, judge, prompts, right, wrong, limits)
        del model
        if name == "smollm2":  # the packaged GGUF (Q4_1) as `selftune serve` runs it: llama.cpp's top_logprobs
            out[name]["logprob llama.cpp"] = _served_bias(prompts, right, wrong, limits)
    return out


def _served_bias(prompts: list, right: list[str], wrong: list[str], limits: object) -> dict:
    """The served log-probability judge on the packaged SmolLM2 GGUF through a llama.cpp server."""
    from skills.evaluate.local_judge import ServedLogprobJudge
    from skills.export.run import base_gguf_for
    from skills.export.serve import LlamaServer

    threads = int(os.environ.get("OMP_NUM_THREADS", "1"))
    with LlamaServer(base_gguf_for("smollm2"), n_ctx=2048, threads=threads, parallel=1) as server:
        judge = ServedLogprobJudge(server.client().with_options(timeout=300), "base")
        return _bias_of("logprob", judge, prompts, right, wrong, limits)


def _bias_of(kind: str, judge: object, prompts: list, right: list[str], wrong: list[str], limits: object) -> dict:
    """One judge's figures on PAIRS (the right answer is the candidate)."""
    from skills.evaluate.judge import calibrate, judge_pairs

    start = time.perf_counter()
    result = judge_pairs(judge, prompts, right, wrong)
    seconds = time.perf_counter() - start
    judged = calibrate(result, limits.judge_max_position_bias, limits.judge_max_disagreement)  # type: ignore[attr-defined]
    return {
        "pairs": len(PAIRS), "right_answer_rate": judged["win_rate"],
        "right_both_orders": sum(s == 1.0 if kind == "text" else s > 0.5 for s in result["scores"]),
        "first_position_rate": judged.get("raw_first_position_rate", judged["first_position_rate"]),
        "first_position_rate_against_lean": judged["first_position_rate"] if kind == "logprob" else None,
        "order_agreement": judged["order_agreement"], "decided": judged["decided"],
        "mean_p_first": judged.get("position_lean"), "first_probabilities": judged.get("first_probabilities"),
        "reliable": judged["reliable"], "unreliable_reason": judged.get("unreliable_reason"),
        "seconds": round(seconds, 1), "verdicts": result["verdicts"],
    }


def print_bias(results: dict[str, dict[str, dict]]) -> None:
    """One line per model and judge kind."""
    print(f"{len(PAIRS)} pairs (a right and a wrong answer), each judged in both orders; limits: first-position rate "
          "within 50% ± 20%, orders disagreeing on at most 40% of pairs")
    for name, kinds in results.items():
        for kind, r in kinds.items():
            first = "n/a" if r["first_position_rate"] is None else f"{r['first_position_rate']:.0%}"
            lean = (f", mean P(first) {r['mean_p_first']:.2f} (read against it: first-position rate "
                    f"{r['first_position_rate_against_lean']:.0%})" if r["mean_p_first"] is not None else "")
            trust = "reliable" if r["reliable"] else f"UNRELIABLE ({r['unreliable_reason']})"
            print(f"{name:>12} {kind:>17}: first-position rate {first}{lean}, orders agree {r['order_agreement']:.0%}, "
                  f"right answer {r['right_answer_rate']:.0%} (both orders {r['right_both_orders']}/{r['pairs']}), "
                  f"decided {r['decided']:.0%}; {trust}; {r['seconds']} s")


def main() -> None:
    """Run every generation path on the same prompts and print the side-by-side rates."""
    import torch

    from skills.evaluate.generate import answer_batch, answer_one_by_one
    from skills.models import load_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", help="smollm2 (default); --judge takes several")
    parser.add_argument("--judge", action="store_true", help="Measure the judges' position bias instead.")
    parser.add_argument("--prompts", type=int, default=32, help="evaluate_adapter's limit")
    parser.add_argument("--new-tokens", type=int, default=48, help="evaluate_adapter's max_new_tokens")
    parser.add_argument("--models-dir", type=Path, default=MODELS)
    parser.add_argument("--json", type=Path, help="Write the raw measurements here.")
    args = parser.parse_args()
    if args.judge:
        results = judge_bias(args.model or ["smollm2", "gemma3-270m"], args.models_dir)
        print_bias(results)
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))
        return
    args.model = (args.model or ["smollm2"])[0]
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
