"""GGUF export and serving speed for SmolLM2-135M: export time and size per GGUF type (LoRA, merged f16/q8_0, and
q4_k_m when libgguf is installed),
then generation tokens/s of the merged q8_0 in llama.cpp (xllamacpp server) vs PEFT fp32 on the same prompts.

Usage: python bench/export.py [--models-dir .cache/models] [--prompts 4] [--new-tokens 48] [--threads 2]
Prints one line per export and `PEFT fp32 X tok/s | llama.cpp q8_0 Y tok/s` (target: >= 3x on CPU).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
PROMPTS = ["Tell me about the sea.", "What is a pirate's favourite food?", "Explain what a compass does.",
           "Write a short poem about ships."]


def _adapter(base: Path, out: Path) -> Path:
    """A random non-zero LoRA on q/k/v/o (what a real persona adapter looks like to the exporter)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(base), LoraConfig(
        r=8, lora_alpha=16, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"], init_lora_weights=False))
    model.save_pretrained(out)
    return out


def _exports(base: Path, work: Path) -> dict[str, Path]:
    """Export once per GGUF type, printing seconds and MiB."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from skills.export.gguf import write_lora_gguf, write_model_gguf
    from skills.export.quantize import quantizer_missing

    adapter = _adapter(base, work / "adapter")
    start = time.perf_counter()
    merged = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), adapter).merge_and_unload()
    merged.save_pretrained(work / "merged")
    AutoTokenizer.from_pretrained(base).save_pretrained(work / "merged")
    merge_s = time.perf_counter() - start
    files: dict[str, Path] = {}
    quants = ["f16", "q8_0"] + ([] if quantizer_missing() else ["q4_k_m"])
    makers = [("lora", lambda: write_lora_gguf(adapter, base, work / "lora.gguf"))] + [
        (q, lambda q=q: write_model_gguf(work / "merged", work / f"merged-{q}.gguf", q)) for q in quants]
    for label, make in makers:
        start = time.perf_counter()
        files[label] = make()
        extra = f" (+ merge {merge_s:.1f} s)" if label != "lora" else ""
        print(f"export {label:5s} {time.perf_counter() - start:6.1f} s{extra}  {files[label].stat().st_size / 2**20:7.1f} MiB")
    return files


def _peft_rate(base: Path, adapter: Path, new_tokens: int) -> float:
    """Greedy tokens/s of base + adapter in PEFT, fp32, one prompt at a time."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(base)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base, torch_dtype=torch.float32), adapter).eval()
    produced, start = 0, time.perf_counter()
    for prompt in PROMPTS:
        ids = tok.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                      return_tensors="pt", return_dict=True)
        with torch.no_grad():
            out = model.generate(**ids, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False)
        produced += out.shape[1] - ids["input_ids"].shape[1]
    return produced / (time.perf_counter() - start)


def _llama_rate(gguf_path: Path, new_tokens: int, threads: int) -> float:
    """Greedy tokens/s of the merged GGUF in llama.cpp's server, same prompts, one at a time."""
    from skills.export.serve import LlamaServer

    with LlamaServer(gguf_path, threads=threads) as server:
        client = server.client()
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}], max_tokens=2)  # warm-up
        produced, start = 0, time.perf_counter()
        for prompt in PROMPTS:
            reply = client.chat.completions.create(model="m", messages=[{"role": "user", "content": prompt}],
                                                   max_tokens=new_tokens, temperature=0,
                                                   extra_body={"ignore_eos": True})
            produced += reply.usage.completion_tokens
        return produced / (time.perf_counter() - start)


def main() -> None:
    """Export SmolLM2 + a LoRA in each GGUF type, then compare generation speed."""
    import torch

    from skills.models import resolve_base_model

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models-dir", type=Path, default=Path(".cache/models"))
    parser.add_argument("--new-tokens", type=int, default=48)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)  # both sides get the same cores
    base = resolve_base_model("smollm2", args.models_dir)
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        files = _exports(base, Path(tmp))
        peft = _peft_rate(base, Path(tmp) / "adapter", args.new_tokens)
        llama = _llama_rate(files["q8_0"], args.new_tokens, args.threads)
    print(f"PEFT fp32 {peft:.1f} tok/s | llama.cpp q8_0 {llama:.1f} tok/s  ratio {llama / peft:.2f}x (target >= 3x)")


if __name__ == "__main__":
    main()
