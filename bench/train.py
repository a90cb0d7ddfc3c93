"""Benchmark: our worker vs plain `trl.SFTTrainer` / `DPOTrainer` / `KTOTrainer` scripts written the way TRL's docs show.

Like for like: same model, rows (one epoch of the same conversations, or `--epochs N` passes over fewer), max length,
LoRA hyperparameters, optimizer steps and gradient-checkpointing setting on both sides; each setting is reported on
its own line.
Prints real (non-padding) tokens/s and peak memory (RSS on CPU, allocated VRAM on CUDA) for both, and ratios
(targets: tokens/s >= 1.3x, peak memory <= 1.0x), plus the mean training loss of each side.

Precision is part of a case's name. `sft-off` compares the defaults: ours computes SFT in bf16 where the device
does it natively (CUDA, CPUs with AVX512-BF16/AMX; DPO/KTO stay fp32 on CPU), plain TRL on CPU in fp32. `sft-off-bf16` gives the baseline
`bf16=True` too (TRL's autocast over fp32 weights), `sft-off-fp32` forces ours to fp32: both like for like.

    .venv/bin/python bench/train.py [--model smollm2|tiny] [--steps 4] [--epochs 1] [--cases sft-off dpo-on ...]
                                    [--device cpu|cuda] [--peft lora|qlora] [--json OUT]

On CUDA (`make bench-gpu`) ours uses Unsloth when it is installed, the baseline is also run with Liger's
kernels when `liger-kernel` is installed, `--peft qlora` loads both sides in 4-bit, and a line says what ran.
Without a CUDA GPU `--device cuda` prints why it skipped and exits 0.
"""

from __future__ import annotations

import argparse
import importlib.util
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

# The baselines, as in TRL's SFTTrainer / DPOTrainer quickstarts + PEFT docs; only device flags, the step count,
# the checkpointing setting (the same as ours) and, for qlora, TRL's documented 4-bit loading added.
BASELINE = '''
import json, sys
import torch
from datasets import load_dataset
from peft import LoraConfig
from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig
from trl import DPOConfig, DPOTrainer, KTOConfig, KTOTrainer, SFTConfig, SFTTrainer

(method, model_dir, data, out, steps, batch, max_length, lora, ckpt, cuda, qlora, liger, bf16) = (
    sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7]),
    json.loads(sys.argv[8]), *(flag == "1" for flag in sys.argv[9:14]))
dataset = load_dataset("json", data_files=data, split="train")
dtype = torch.bfloat16 if cuda else torch.float32
kwargs = {"dtype": dtype}
if qlora:
    kwargs["quantization_config"] = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                                       bnb_4bit_compute_dtype=dtype)
model = AutoModelForCausalLM.from_pretrained(model_dir, **kwargs)
tokenizer = AutoTokenizer.from_pretrained(model_dir)
if tokenizer.pad_token is None:
    tokenizer.pad_token = tokenizer.eos_token
common = dict(output_dir=out, max_steps=steps, per_device_train_batch_size=batch, learning_rate=2e-4,
              max_length=max_length, use_cpu=not cuda, bf16=cuda or bf16, report_to=[], save_strategy="no",
              logging_steps=1, seed=42, gradient_checkpointing=ckpt, use_liger_kernel=liger)
peft_config = LoraConfig(task_type="CAUSAL_LM", **lora)
if method in ("dpo", "kto"):
    trainer_cls, config_cls = (DPOTrainer, DPOConfig) if method == "dpo" else (KTOTrainer, KTOConfig)
    trainer = trainer_cls(model=model, args=config_cls(**common), train_dataset=dataset, processing_class=tokenizer,
                          peft_config=peft_config)
else:
    trainer = SFTTrainer(model=model, args=SFTConfig(**common, assistant_only_loss=True), train_dataset=dataset,
                         processing_class=tokenizer, peft_config=peft_config)
result = trainer.train()
tokens = max(log.get("num_tokens", 0) for log in trainer.state.log_history)
vram = torch.cuda.max_memory_allocated() if cuda else 0
print("BENCH " + json.dumps({"tokens": tokens, "runtime": result.metrics["train_runtime"], "vram": vram,
                             "loss": result.training_loss}))
'''

# Ours: the real worker, in a process of its own; on CUDA it also reports the peak VRAM it allocated.
OURS = '''
import json, sys
import torch
from skills.train.worker import main
code = main([sys.argv[1]])
vram = torch.cuda.max_memory_allocated() if torch.cuda.is_available() else 0
open(sys.argv[2], "w").write(json.dumps({"vram": vram}))
sys.exit(code)
'''

# method-checkpointing[-precision]: no precision = each side's default; bf16 / fp32 = both sides in it.
CASES = [f"{m}-{c}{p}" for m in ("sft", "dpo", "kto") for c in ("off", "on") for p in ("", "-bf16", "-fp32")]
DEFAULT_CASES = ["sft-off", "sft-on", "sft-off-bf16", "sft-on-bf16", "sft-off-fp32", "dpo-on", "dpo-on-bf16", "kto-on",
                 "kto-on-bf16"]
GPU_CASES = ["sft-off", "sft-on", "dpo-on", "kto-on"]  # on CUDA both sides already compute in bf16
WORDS = "arr matey the ship sails at dawn with treasure maps and rum for the crew ahoy".split()


def _answer(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.choice([4, 8, 16, 60, 120])))


def make_data(path: Path, n: int, method: str = "sft", seed: int = 0) -> Path:
    """Conversations (or preference pairs) of very different lengths, as real chat data is."""
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as fh:
        for _ in range(n):
            prompt = [{"role": "system", "content": "You are a pirate."},
                      {"role": "user", "content": "Tell me about your ship."}]
            if method == "dpo":
                row = {"prompt": prompt, "chosen": [{"role": "assistant", "content": _answer(rng)}],
                       "rejected": [{"role": "assistant", "content": "I am an AI and have no ship."}]}
            elif method == "kto":  # TRL's unpaired shape, which our reader also takes; half the answers rated 👎
                good = rng.random() < 0.5
                answer = _answer(rng) if good else "I am an AI and have no ship."
                row = {"prompt": prompt, "completion": [{"role": "assistant", "content": answer}], "label": good}
            else:
                row = {"messages": [*prompt, {"role": "assistant", "content": _answer(rng)}]}
            fh.write(json.dumps(row) + "\n")
    return path


def run_measured(cmd: list[str], env: dict[str, str], timeout_s: float = 1800) -> tuple[str, float, int]:
    """(stdout, wall seconds, peak RSS bytes) of a child process, RSS sampled every 50 ms."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    ps, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None and time.monotonic() - start < timeout_s:
        try:
            peak = max(peak, ps.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.05)
    if proc.poll() is None:
        proc.kill()
    return proc.stdout.read(), time.monotonic() - start, peak


def ours(case: dict, data: Path, tmp: Path, args: argparse.Namespace, env: dict) -> dict:
    """Our worker on the case; tokens, runtime, peak RSS and VRAM."""
    from skills.train.spec import Hyper, TrainSpec, sha256_file

    method = case["method"] if case["method"] in ("dpo", "kto") else args.peft
    hyper = Hyper(rank=16, alpha=32, dropout=0.05, max_steps=args.steps, batch_size=args.batch,
                  max_length=args.max_length, learning_rate=2e-4, eval_split=0.0, save_steps=10_000,
                  logging_steps=1, warmup_ratio=0.0, scheduler="linear", gradient_checkpointing=case["ckpt"],
                  bf16={"bf16": True, "fp32": False}.get(case["precision"]))
    folder = tmp / f"ours-{case['label']}"
    spec = TrainSpec(name="bench", base_model=args.model, method=method, dataset=data,
                     dataset_sha256=sha256_file(data), output_dir=folder / "v1", hyper=hyper, device=args.device)
    spec_path = spec.save(tmp / f"spec-{case['label']}.json")
    extra = tmp / f"ours-{case['label']}.json"
    out, _, peak = run_measured([sys.executable, "-c", OURS, str(spec_path), str(extra)], env)
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    done = [e for e in events if e.get("event") == "done"]
    if not done:
        sys.exit(f"worker failed ({case['label']}): {out[-500:]}")
    backend = next((e.get("backend") for e in events if e.get("event") == "start"), "?")
    m = done[0]["metrics"]
    vram = json.loads(extra.read_text())["vram"] if extra.is_file() else 0
    saved = json.loads((Path(done[0]["adapter_dir"]) / "train_spec.json").read_text(encoding="utf-8"))
    return {"tokens": m["train_tokens"], "runtime": m["train_runtime_s"], "rss": peak, "vram": vram,
            "backend": backend, "loss": m["train_loss"], "bf16": saved["hyper"]["bf16"]}


def baseline(case: dict, model_dir: Path, data: Path, tmp: Path, args: argparse.Namespace, env: dict,
             liger: bool = False) -> dict:
    """The plain TRL script on the case; tokens, runtime, peak RSS and VRAM."""
    script = tmp / "baseline.py"
    script.write_text(BASELINE)
    bf16 = case["precision"] == "bf16"
    flags = ["1" if x else "0" for x in (case["ckpt"], args.device == "cuda", args.peft == "qlora", liger, bf16)]
    cmd = [sys.executable, str(script), case["method"], str(model_dir), str(data), str(tmp / f"base-{case['label']}"),
           str(args.steps), str(args.batch), str(args.max_length), json.dumps(LORA), *flags]
    out, _, peak = run_measured(cmd, env)
    line = next((x for x in out.splitlines() if x.startswith("BENCH ")), None)
    if line is None:
        sys.exit(f"baseline failed ({case['label']}): {out[-500:]}")
    return {**json.loads(line[6:]), "rss": peak, "bf16": bf16 or args.device == "cuda"}


def cuda_ready() -> str | None:
    """None when a CUDA GPU is usable, else the reason it is not."""
    import torch

    return None if torch.cuda.is_available() else "no CUDA GPU is visible (torch.cuda.is_available() is False)"


def child_env(tmp: Path) -> dict[str, str]:
    """Offline, single-threaded unless told otherwise, our code first, a throwaway state dir."""
    (tmp / "home").mkdir()
    (tmp / "home" / "models").symlink_to(MODELS)
    return {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2"), "HF_HUB_OFFLINE": "1",
            "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "SELFTUNE_HOME": str(tmp / "home"),
            "PYTHONPATH": str(REPO)}


def run_case(case: dict, model_dir: Path, tmp: Path, args: argparse.Namespace, env: dict) -> dict:
    """Baseline (and Liger baseline on CUDA) then ours on the same rows; the figures of one line."""
    # Exactly `epochs` passes for both (steps x batch / epochs rows): the same rows, each seen that many times.
    data = make_data(tmp / f"data-{case['method']}.jsonl", args.steps * args.batch // args.epochs, case["method"])
    result = {**case, "baseline": baseline(case, model_dir, data, tmp, args, env)}
    if args.device == "cuda" and importlib.util.find_spec("liger_kernel") is not None:
        result["liger"] = baseline({**case, "label": case["label"] + "-liger"}, model_dir, data, tmp, args, env, True)
    result["ours"] = ours(case, data, tmp, args, env)
    for side in ("baseline", "liger", "ours"):
        if side in result:
            result[side]["tokens_per_s"] = result[side]["tokens"] / result[side]["runtime"]
    return result


def case_name(result: dict) -> str:
    """'sft ckpt=off' (each side's defaults) or 'sft ckpt=off bf16' (both sides in that precision)."""
    name = f"{result['method']} ckpt={'on' if result['ckpt'] else 'off'}"
    return f"{name} {result['precision']}" if result["precision"] else name


def _precision(side: dict) -> str:
    return "bf16" if side.get("bf16") else "fp32"


def report(results: list[dict], args: argparse.Namespace) -> None:
    """One line per figure: ours vs the baseline measured beside it."""
    memory = "peak VRAM MiB" if args.device == "cuda" else "peak RSS MiB"
    key = "vram" if args.device == "cuda" else "rss"
    for r in results:
        b, o = r["baseline"], r["ours"]
        rate, mem = o["tokens_per_s"] / b["tokens_per_s"], o[key] / max(b[key], 1)
        name = case_name(r)
        print(f"{name} precision: baseline {_precision(b)} | ours {_precision(o)}")
        print(f"{name} tokens/s: baseline {b['tokens_per_s']:.1f} | ours {o['tokens_per_s']:.1f} | "
              f"ratio {rate:.2f} (target >= 1.3)")
        print(f"{name} {memory}: baseline {b[key] / 2**20:.0f} | ours {o[key] / 2**20:.0f} | "
              f"ratio {mem:.2f} (target <= 1.0)")
        print(f"{name} train loss: baseline {b['loss']:.3f} | ours {o['loss']:.3f} (mean over the same rows, "
              "batched in a different order)")
        if "liger" in r:
            print(f"{name} tokens/s with Liger kernels (baseline + liger): {r['liger']['tokens_per_s']:.1f}, "
                  f"{memory} {r['liger'][key] / 2**20:.0f}")


def parse_case(label: str) -> dict:
    """'dpo-on-bf16' -> method dpo, checkpointing on, both sides in bf16 (precision '' = each side's default)."""
    method, ckpt, *precision = label.split("-")
    return {"method": method, "ckpt": ckpt == "on", "precision": precision[0] if precision else "", "label": label}


def main() -> None:
    """Parse options, run every (method, checkpointing) case, print the lines and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2", help="smollm2 (default), tiny, or a local model folder")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=1,
                        help="passes over the rows: steps x batch / epochs rows (nightly KTO runs several epochs)")
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--cases", nargs="+", choices=CASES,
                        help="method-checkpointing[-precision] to compare; each setting applies to both sides "
                             "(default: the CPU set with precision variants, or the plain set on CUDA).")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--peft", default="lora", choices=["lora", "qlora"], help="SFT adapter kind (qlora: CUDA).")
    parser.add_argument("--json", type=Path, help="Write the raw measurements here.")
    args = parser.parse_args()
    args.cases = args.cases or (GPU_CASES if args.device == "cuda" else DEFAULT_CASES)
    if args.epochs < 1 or args.steps % args.epochs:
        parser.error("--epochs must divide --steps (whole batches, every row seen the same number of times)")
    if args.device == "cuda" and any(c.endswith(("-bf16", "-fp32")) for c in args.cases):
        parser.error("precision variants (-bf16, -fp32) compare CPU defaults; on CUDA both sides run bf16 already")
    if args.device == "cuda" and (reason := cuda_ready()) is not None:
        print(f"skipped: {reason}; run `make bench-gpu` on a machine with an NVIDIA GPU.")
        return
    from skills.models import resolve_base_model

    model_dir = resolve_base_model(args.model, MODELS)
    cases = [parse_case(c) for c in args.cases]
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        env = child_env(tmp)
        results = [run_case(case, model_dir, tmp, args, env) for case in cases]
    print(f"model {args.model}, device {args.device}, {args.peft}, {args.steps} steps, batch {args.batch}, "
          f"{args.epochs} epoch{'s' if args.epochs > 1 else ''}, "
          f"max_length {args.max_length}, OMP_NUM_THREADS={env['OMP_NUM_THREADS']}")
    backends = sorted({r["ours"]["backend"] for r in results})
    liger = "baseline + Liger kernels" if any("liger" in r for r in results) else "no Liger (liger-kernel not installed or CPU)"
    print(f"ran: plain TRL baseline; ours with backend {', '.join(backends)}; {liger}")
    report(results, args)
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "results": results},
                                        indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
