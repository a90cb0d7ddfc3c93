"""Persona adapters share one base copy and each answer uses its own adapter."""

from __future__ import annotations

from pathlib import Path

import torch

from agent import persona_switch
from agent.persona_switch import AdapterProvider


def random_adapter(base_dir: Path, out: Path, seed: int) -> Path:
    """A LoRA adapter with random (non-zero) weights, so it visibly changes the model."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base_dir)
    peft = get_peft_model(model, LoraConfig(r=4, target_modules="all-linear", init_lora_weights=False))
    peft.save_pretrained(out)
    return out


def next_token_logits(provider: AdapterProvider) -> torch.Tensor:
    model, tokenizer = provider.load()
    ids = tokenizer("Arr matey", return_tensors="pt")
    with torch.inference_mode():
        return model(**ids).logits[0, -1]


def test_two_personas_one_base(tiny_model_dir: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(persona_switch, "_hosts", {})
    models = tiny_model_dir.parent
    pirate = AdapterProvider("tiny", models, "pirate-lora/v1", random_adapter(tiny_model_dir, tmp_path / "a", 1))
    ninja = AdapterProvider("tiny", models, "ninja-lora/v1", random_adapter(tiny_model_dir, tmp_path / "b", 2))
    first = next_token_logits(pirate)
    other = next_token_logits(ninja)
    assert not torch.allclose(first, other)
    assert torch.allclose(next_token_logits(pirate), first)  # switching back restores the pirate exactly
    [(host, _)] = persona_switch._hosts.values()  # one shared base copy carries both adapters
    assert set(host.loaded) == {"pirate-lora-v1", "ninja-lora-v1"}
    assert pirate.chat([{"role": "user", "content": "hi"}], max_tokens=4).model == "tiny"
