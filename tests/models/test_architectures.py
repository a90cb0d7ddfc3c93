"""Every supported architecture resolves, gets assistant-only loss markers and per-architecture LoRA
targets, and trains a LoRA through the real worker path; the adapter loads on the resolved base."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from skills.models import LORA_TARGETS, load_model, lora_targets, resolve_base_model
from tests.models.conftest import tiny_arch
from tests.train.conftest import sft_rows, write_jsonl
from tests.train.helpers import make_spec, run_inprocess

CHAT = [{"role": "system", "content": "Be a pirate."}, {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "arr matey"}]


def test_resolve_adds_generation_markers_without_touching_the_source(arch_dir: Path, tmp_path: Path) -> None:
    source_config = (arch_dir / "tokenizer_config.json").read_text()
    resolved = resolve_base_model(str(arch_dir), tmp_path)
    assert resolved != arch_dir and resolved.parent == tmp_path / "prepared"
    assert (arch_dir / "tokenizer_config.json").read_text() == source_config  # the source is never edited
    assert (resolved / "model.safetensors").is_symlink()  # weights are linked, not copied
    _, tokenizer = load_model(str(arch_dir), tmp_path)
    enc = tokenizer.apply_chat_template(CHAT, return_assistant_tokens_mask=True, return_dict=True)
    masked = [t for t, m in zip(enc["input_ids"], enc["assistant_masks"], strict=True) if m]
    assert "arr matey" in tokenizer.decode(masked) and len(masked) < len(enc["input_ids"])
    assert resolve_base_model(str(arch_dir), tmp_path) == resolved  # prepared once


def test_lora_targets_come_from_the_architecture(arch_dir: Path) -> None:
    model_type = json.loads((arch_dir / "config.json").read_text())["model_type"]
    assert lora_targets(arch_dir) == LORA_TARGETS[model_type]
    assert lora_targets(arch_dir, ["q_proj"]) == ["q_proj"]


def test_lora_trains_and_loads(arch_dir: Path, tmp_path: Path) -> None:
    from peft import PeftModel

    data = write_jsonl(tmp_path / "data.jsonl", sft_rows(24))
    spec = make_spec(tmp_path, data, max_steps=3, eval_split=0.25)
    doc = json.loads(spec.read_text())
    doc["base_model"] = str(arch_dir)
    spec.write_text(json.dumps(doc))
    rc, events = run_inprocess(spec, tmp_path / "models")
    assert rc == 0, events[-1]
    metrics = events[-1]["metrics"]
    assert metrics["steps"] == 3 and math.isfinite(metrics["train_loss"]) and math.isfinite(metrics["eval_loss"])
    adapter_dir = Path(events[-1]["adapter_dir"])
    config = json.loads((adapter_dir / "adapter_config.json").read_text())
    model_type = json.loads((arch_dir / "config.json").read_text())["model_type"]
    assert sorted(config["target_modules"]) == sorted(LORA_TARGETS[model_type])
    base, _ = load_model(str(arch_dir), tmp_path / "models")
    model = PeftModel.from_pretrained(base, adapter_dir)
    assert any("lora_A" in name for name, _ in model.named_parameters())


def test_hub_id_resolves_from_the_local_cache_only(arch_dir: Path, tmp_path: Path, monkeypatch) -> None:
    """A Hub id in the HF cache layout resolves offline; a missing one is a sentence, never a download."""
    from huggingface_hub import constants

    cache = tmp_path / "hub"
    snapshot = cache / "models--acme--tiny" / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    for item in arch_dir.iterdir():
        (snapshot / item.name).symlink_to(item)
    (cache / "models--acme--tiny" / "refs").mkdir()
    (cache / "models--acme--tiny" / "refs" / "main").write_text("0123abcd")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    resolved = resolve_base_model("acme/tiny", tmp_path / "models")
    assert (resolved / "config.json").is_file() and resolved.parent == tmp_path / "models" / "prepared"
    with pytest.raises(Exception, match="not in the local Hugging Face cache and no downloads happen"):
        resolve_base_model("acme/absent", tmp_path / "models")


def test_allowed_download_goes_to_the_hub_and_fails_in_one_sentence(tmp_path: Path, monkeypatch) -> None:
    """models.allow_download really asks the Hub (here a closed loopback port): the failure is one sentence."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", "http://127.0.0.1:9/{repo_id}/resolve/{revision}/{filename}")
    with pytest.raises(Exception, match="Could not download 'acme/absent'"):
        resolve_base_model("acme/absent", tmp_path / "models", allow_download=True)


def test_a_template_that_formats_differently_is_named_in_the_log(tmp_path: Path, caplog) -> None:
    """A Hub-style template with its own default system prompt still gets markers, and the difference is logged."""
    import logging

    from transformers import AutoTokenizer

    arch_dir = tiny_arch("qwen2")
    src = tmp_path / "qwen-like"
    src.mkdir()
    for name in ("config.json", "model.safetensors"):
        (src / name).symlink_to(arch_dir / name)  # read only; the tokenizer is saved as a new file below
    tokenizer = AutoTokenizer.from_pretrained(arch_dir)
    tokenizer.chat_template = ("{% if messages[0]['role'] != 'system' %}<|im_start|>system\nYou are Qwen.<|im_end|>\n"
                               "{% endif %}" + tokenizer.chat_template)
    tokenizer.save_pretrained(src)
    with caplog.at_level(logging.WARNING, logger="skills.models"):
        resolved = resolve_base_model(str(src), tmp_path / "models")
    assert "formats a conversation differently from the chatml family" in caplog.text
    assert "{% generation %}" in AutoTokenizer.from_pretrained(resolved).chat_template
