"""`export_adapter` for any base: a LoRA on a non-SmolLM2 base gets its base GGUF converted, a merged GGUF per
quant type, and a full fine-tune exports as a merged folder and one GGUF that llama.cpp loads and answers with."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from skills.export.gguf import converter_missing
from skills.export.run import export_adapter
from skills.export.serve import LlamaServer
from tests.models.conftest import tiny_arch

pytestmark = pytest.mark.skipif(converter_missing() is not None, reason=str(converter_missing()))


def _answers(gguf_path: str, adapters: dict[str, Path] | None = None) -> str:
    """One short greedy completion from llama.cpp with the file loaded (proves it loads and runs)."""
    with LlamaServer(Path(gguf_path), adapters) as server:
        if adapters:
            server.use(next(iter(adapters)))
        reply = server.client().completions.create(model="m", prompt="Hello", max_tokens=4, temperature=0)
    return reply.choices[0].text


def test_lora_on_a_qwen2_base_exports_lora_and_merged_ggufs(settings, tmp_path: Path) -> None:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = tiny_arch("qwen2")
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(base),
                           LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    model.save_pretrained(tmp_path / "pirate")
    (tmp_path / "pirate" / "manifest.json").write_text(json.dumps({"base_model": str(base), "method": "lora"}))
    lora = export_adapter(settings, tmp_path / "pirate", "gguf", out_dir=tmp_path / "out")
    assert Path(lora["base_gguf"]).parent == settings.models_dir / "gguf"  # converted once, then reused
    assert isinstance(_answers(lora["base_gguf"], {"pirate": Path(lora["path"])}), str)
    for quant in ("f16", "q8_0"):
        merged = export_adapter(settings, tmp_path / "pirate", "gguf", out_dir=tmp_path / "out", quant=quant)
        assert merged["path"].endswith(f"-{quant}.gguf") and Path(merged["merged"], "config.json").is_file()
        assert isinstance(_answers(merged["path"]), str)


def test_a_full_fine_tune_exports_as_a_merged_folder_and_a_gguf(settings, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = tiny_arch("llama")
    full = tmp_path / "full-v1"
    AutoModelForCausalLM.from_pretrained(base).save_pretrained(full)
    AutoTokenizer.from_pretrained(base).save_pretrained(full)
    (full / "manifest.json").write_text(json.dumps({"base_model": str(base), "method": "full", "kind": "model"}))
    merged = export_adapter(settings, full, "merged", out_dir=tmp_path / "out")
    assert Path(merged["path"], "model.safetensors").is_file() and not Path(merged["path"], "manifest.json").exists()
    doc = export_adapter(settings, full, "gguf", out_dir=tmp_path / "out")
    assert doc["quant"] == "q8_0" and isinstance(_answers(doc["path"]), str)
    with pytest.raises(Exception, match="full fine-tune; export it --to gguf"):
        export_adapter(settings, full, "ollama", out_dir=tmp_path / "out")
    from config.errors import SelftuneError
    from skills.evaluate.run import evaluate_adapter

    data = tmp_path / "eval.jsonl"
    data.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "arr"}]}))
    with pytest.raises(SelftuneError, match="is a full fine-tune; evaluation compares LoRA adapters"):
        evaluate_adapter(settings, full, data=data, use_judge=False)


def test_promote_refuses_a_full_fine_tune_in_one_sentence(settings) -> None:
    """Personas are served as base + LoRA, so `adapters promote` of a full fine-tune says what to do instead."""
    from typer.testing import CliRunner

    from agent.cli.main import app
    from skills.train.adapters import served_map

    folder = settings.artifacts_dir / "adapters" / "pirate-full" / "v1"
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({"name": "pirate-full", "version": "v1", "base_model": "tiny",
                                                      "method": "full", "kind": "model", "persona": "pirate"}))
    result = CliRunner().invoke(app, ["adapters", "promote", "pirate", "pirate-full/v1"])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "pirate-full/v1 is a full fine-tune" in result.output and "--to gguf" in result.output
    assert served_map(settings) == {}
