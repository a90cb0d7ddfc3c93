"""Eval fixtures: a real LoRA adapter trained with PEFT on the tiny model (seconds), and its data."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

NAMES = ["ship", "sea", "gold", "map", "parrot", "storm", "island", "anchor", "sail", "crew"]


def pirate_rows(n: int, seed: int) -> list[dict]:
    """Short pirate-style Q/A rows in the canonical messages format."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        thing = rng.choice(NAMES)
        rows.append({"messages": [
            {"role": "user", "content": f"Tell me about the {thing}."},
            {"role": "assistant", "content": f"Arr matey, the {thing} be fine!"},
        ]})
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def train_adapter(base_dir: Path, rows: list[dict], out: Path, steps: int = 60, seed: int = 0) -> Path:
    """A few AdamW steps of LoRA on assistant tokens, then save_pretrained + manifest.json."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from skills.evaluate.heldout import _encode

    torch.manual_seed(seed)
    tok = AutoTokenizer.from_pretrained(base_dir)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(base_dir),
                           LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-2)
    encoded = [_encode(tok, r["messages"], 128) for r in rows]
    for step in range(steps):
        ids, labels = encoded[step % len(encoded)]
        loss = model(input_ids=torch.tensor([ids]), labels=torch.tensor([labels])).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    model.save_pretrained(out)
    (out / "manifest.json").write_text(json.dumps({"name": out.name, "version": 1, "base_model": str(base_dir),
                                                   "method": "lora", "persona": "pirate"}))
    return out


@pytest.fixture(scope="session")
def eval_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Train and eval splits of the pirate data."""
    root = tmp_path_factory.mktemp("evaldata")
    return {"train": write_jsonl(root / "train.jsonl", pirate_rows(24, 1)),
            "eval": write_jsonl(root / "eval.jsonl", pirate_rows(8, 2))}


@pytest.fixture(scope="session")
def tiny_adapter(tiny_model_dir: Path, eval_data: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real LoRA adapter of the tiny model trained on the pirate train split."""
    rows = [json.loads(x) for x in eval_data["train"].read_text().splitlines()]
    return train_adapter(tiny_model_dir, rows, tmp_path_factory.mktemp("adapters") / "pirate-tiny")
