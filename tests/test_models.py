"""Base models without a hub: the packaged SmolLM2 converted once, and the tiny test model."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.errors import NotFound
from skills.models import load_model, resolve_base_model


def greedy(model, tokenizer, prompt: str, n: int = 12) -> str:
    inputs = tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}], add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    out = model.generate(**inputs, max_new_tokens=n, do_sample=False)
    return tokenizer.decode(out[0][inputs["input_ids"].shape[1]:], skip_special_tokens=True)


def test_tiny_model_has_generation_markers(tiny_model_dir: Path) -> None:
    model, tokenizer = load_model(str(tiny_model_dir), tiny_model_dir.parent)
    assert "{% generation %}" in tokenizer.chat_template
    encoded = tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "arr"}],
        return_assistant_tokens_mask=True, return_dict=True,
    )
    assert 0 < sum(encoded["assistant_masks"]) < len(encoded["input_ids"])
    assert sum(p.numel() for p in model.parameters()) < 2_000_000


def test_smollm2_converted_once_and_generates(smollm2_dir: Path) -> None:
    """Converted from the packaged GGUF; a second resolve is instant; greedy output is real and stable."""
    assert (smollm2_dir / "config.json").is_file()
    assert resolve_base_model("smollm2", smollm2_dir.parent) == smollm2_dir
    model, tokenizer = load_model("smollm2", smollm2_dir.parent)
    first = greedy(model, tokenizer, "What is the capital of France?")
    assert first.strip() and "Paris" in first
    assert greedy(model, tokenizer, "What is the capital of France?") == first


def test_half_written_conversion_is_ignored(tmp_path: Path) -> None:
    """A folder without config.json (crash mid-write) is not used; temp folders don't count."""
    (tmp_path / ".tiny-chatml.abc").mkdir()
    path = resolve_base_model("tiny", tmp_path)
    assert (path / "config.json").is_file() and path.name == "tiny-chatml"


def test_unknown_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="no downloads"):
        resolve_base_model("meta-llama/Llama-3-8B", tmp_path)
