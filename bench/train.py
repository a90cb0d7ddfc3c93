"""Benchmark: our worker vs a plain `trl.SFTTrainer` script written the way TRL's docs show.

Same model, data, LoRA hyperparameters and optimizer steps. Prints real (non-padding) tokens/s for both,
the ratio (target >= 1.3 on CPU) and each process's peak RSS.

    .venv/bin/python bench/train.py [--model smollm2|tiny] [--steps 8] [--gradient-checkpointing]

Measured on the 2-core CPU box (SmolLM2, 8 steps, batch 4, one epoch of the same 32 conversations):
ours 1.83x tokens/s at 1.48x peak RSS (no gradient checkpointing on CPU: speed over memory); with
--gradient-checkpointing (TRL's default) 1.20x tokens/s at 1.03x peak RSS. The gain comes from batching
conversations of similar length (little padding) and, by default, not recomputing activations.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
MODELS = Path(os.environ.get("SELFTUNE_TEST_MODEL_CACHE", REPO / ".cache" / "models"))
LORA = {"r": 16, "lora_alpha": 32, "lora_dropout": 0.05, "target_modules": "all-linear"}

# The baseline, as in TRL's SFTTrainer quickstart + PEFT docs; only CPU flags and the step count added.
BASELINE = '''
import json, sys
from datasets import load_dataset
from peft import LoraConfig
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import SFTConfig, SFTTrainer

model_dir, data, out, steps, batch, max_length, lora = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), json.loads(sys.argv[7])
dataset = load_dataset("json", data_files=data, split="train")
model = AutoModelForCausalLM.from_pretrained(model_dir)
tokenizer = AutoTokenizer.from_pretrained(model_dir)
args = SFTConfig(output_dir=out, max_steps=steps, per_device_train_batch_size=batch, learning_rate=2e-4,
                 max_length=max_length, assistant_only_loss=True, use_cpu=True, bf16=False, report_to=[],
                 save_strategy="no", logging_steps=1, seed=42)
trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                     peft_config=LoraConfig(task_type="CAUSAL_LM", **lora))
result = trainer.train()
tokens = max(log.get("num_tokens", 0) for log in trainer.state.log_history)
print("BENCH " + json.dumps({"tokens": tokens, "runtime": result.metrics["train_runtime"]}))
'''


def make_data(path: Path, n: int, seed: int = 0) -> Path:
    """Conversations of very different lengths, as real chat data is (this is where padding hurts)."""
    rng = random.Random(seed)
    words = "arr matey the ship sails at dawn with treasure maps and rum for the crew ahoy".split()
    with open(path, "w", encoding="utf-8") as fh:
        for _ in range(n):
            answer = " ".join(rng.choice(words) for _ in range(rng.choice([4, 8, 16, 60, 120])))
            row = {"messages": [{"role": "system", "content": "You are a pirate."},
                                {"role": "user", "content": "Tell me about your ship."},
                                {"role": "assistant", "content": answer}]}
            fh.write(json.dumps(row) + "\n")
    return path


def run_measured(cmd: list[str], env: dict[str, str]) -> tuple[str, float, int]:
    """(stdout, wall seconds, peak RSS bytes) of a child process, RSS sampled every 50 ms."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    ps, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        try:
            peak = max(peak, ps.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.05)
    return proc.stdout.read(), time.monotonic() - start, peak


def ours(model: str, data: Path, tmp: Path, args: argparse.Namespace, env: dict) -> tuple[dict, int]:
    from skills.train.spec import Hyper, TrainSpec, sha256_file

    hyper = Hyper(rank=16, alpha=32, dropout=0.05, max_steps=args.steps, batch_size=args.batch,
                  max_length=args.max_length, learning_rate=2e-4, eval_split=0.0, save_steps=10_000,
                  logging_steps=1, warmup_ratio=0.0, scheduler="linear",
                  gradient_checkpointing=True if args.gradient_checkpointing else None)
    spec = TrainSpec(name="bench", base_model=model, dataset=data, dataset_sha256=sha256_file(data),
                     output_dir=tmp / "ours" / "v1", hyper=hyper)
    out, _, peak = run_measured([sys.executable, "-m", "skills.train.worker", str(spec.save(tmp / "spec.json"))], env)
    done = [json.loads(line) for line in out.splitlines() if '"done"' in line]
    if not done:
        sys.exit(f"worker failed: {out[-500:]}")
    m = done[0]["metrics"]
    return {"tokens": m["train_tokens"], "runtime": m["train_runtime_s"]}, peak


def baseline(model_dir: Path, data: Path, tmp: Path, args: argparse.Namespace, env: dict) -> tuple[dict, int]:
    script = tmp / "baseline.py"
    script.write_text(BASELINE)
    cmd = [sys.executable, str(script), str(model_dir), str(data), str(tmp / "base"), str(args.steps),
           str(args.batch), str(args.max_length), json.dumps(LORA)]
    out, _, peak = run_measured(cmd, env)
    line = next((x for x in out.splitlines() if x.startswith("BENCH ")), None)
    if line is None:
        sys.exit(f"baseline failed: {out[-500:]}")
    return json.loads(line[6:]), peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2", help="smollm2 (default) or tiny")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--gradient-checkpointing", action="store_true",
                        help="Ours with gradient checkpointing too (TRL's default; ours skips it on CPU for speed).")
    args = parser.parse_args()
    from skills.models import resolve_base_model

    model_dir = resolve_base_model(args.model, MODELS)
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2"), "HF_HUB_OFFLINE": "1",
           "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "SELFTUNE_HOME": "", "PYTHONPATH": str(REPO)}
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        (tmp / "home").mkdir()
        (tmp / "home" / "models").symlink_to(MODELS)
        env["SELFTUNE_HOME"] = str(tmp / "home")
        # Exactly one epoch for both (steps x batch rows): the same conversations, each seen once, so tokens
        # and peak memory compare like for like whatever order each trainer batches them in.
        data = make_data(tmp / "data.jsonl", args.steps * args.batch)
        base, base_rss = baseline(model_dir, data, tmp, args, env)
        mine, my_rss = ours(args.model, data, tmp, args, env)
    rate = {k: v["tokens"] / v["runtime"] for k, v in (("baseline", base), ("ours", mine))}
    print(f"model {args.model}, {args.steps} steps, batch {args.batch}, max_length {args.max_length}, "
          f"OMP_NUM_THREADS={env['OMP_NUM_THREADS']}")
    print(f"{'':10}{'tokens/s':>10}{'tokens':>9}{'train s':>9}{'peak RSS MiB':>14}")
    for label, res, rss in (("baseline", base, base_rss), ("ours", mine, my_rss)):
        print(f"{label:10}{rate[label]:10.0f}{res['tokens']:9.0f}{res['runtime']:9.1f}{rss / 2**20:14.0f}")
    print(f"ratio ours/baseline tokens/s: {rate['ours'] / rate['baseline']:.2f} (target >= 1.3); "
          f"peak RSS ratio: {my_rss / base_rss:.2f} (target <= 1.0)")


if __name__ == "__main__":
    main()
