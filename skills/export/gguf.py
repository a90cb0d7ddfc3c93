"""GGUF export with the `gguf` package: a LoRA adapter GGUF that llama.cpp applies on the base GGUF.

No registry package ships llama.cpp's convert scripts (gguf 0.19 and xllamacpp carry only the
reader/writer), so this writes the adapter the way llama.cpp's convert_lora_to_gguf.py does for
Llama-architecture models (SmolLM2 and the tiny test model).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from config.errors import SelftuneError

# PEFT module name -> llama.cpp tensor name inside block N.
LLAMA_NAMES = {
    "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
PEFT_KEY = re.compile(r"layers\.(\d+)\.(\w+\.\w+)\.lora_([AB])(?:\.\w+)?\.weight$")


def permute_rows(weights: Any, n_head: int) -> Any:
    """HF rotate-half rows -> llama.cpp interleaved RoPE rows (llama.cpp's LlamaModel.permute)."""
    rows = weights.shape[0]
    return weights.reshape(n_head, 2, rows // n_head // 2, *weights.shape[1:]).swapaxes(1, 2).reshape(weights.shape)


def _read_adapter(adapter_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    from safetensors.numpy import load_file

    config = json.loads((adapter_dir / "adapter_config.json").read_text(encoding="utf-8"))
    weights_path = adapter_dir / "adapter_model.safetensors"
    if not weights_path.is_file():
        raise SelftuneError(f"{adapter_dir} has no adapter_model.safetensors; re-save the adapter with safetensors.")
    if config.get("use_rslora") or config.get("use_dora") or config.get("modules_to_save"):
        raise SelftuneError(f"Adapter {adapter_dir} uses rsLoRA/DoRA/modules_to_save, which llama.cpp LoRA GGUF cannot hold; "
                            "export it --to merged instead.")
    return config, load_file(weights_path)


def _gguf_tensors(weights: dict[str, Any], model_config: dict[str, Any]) -> dict[str, Any]:
    """Rename PEFT tensors to llama.cpp names; permute lora_B of q/k for llama.cpp's RoPE layout."""
    n_head = model_config["num_attention_heads"]
    n_kv = model_config.get("num_key_value_heads") or n_head
    out = {}
    for key, value in weights.items():
        match = PEFT_KEY.search(key)
        if not match or match.group(2) not in LLAMA_NAMES:
            raise SelftuneError(f"Adapter tensor {key} has no llama.cpp equivalent; export --to merged instead.")
        layer, module, which = match.groups()
        if which == "B" and module == "self_attn.q_proj":
            value = permute_rows(value, n_head)
        elif which == "B" and module == "self_attn.k_proj":
            value = permute_rows(value, n_kv)
        out[f"blk.{layer}.{LLAMA_NAMES[module]}.weight.lora_{which.lower()}"] = value.astype("float32")
    return out


def write_lora_gguf(adapter_dir: Path, base_model_dir: Path, out: Path) -> Path:
    """Write the adapter as a llama.cpp LoRA GGUF (apply it on the base model's GGUF)."""
    import gguf

    config, weights = _read_adapter(adapter_dir)
    model_config = json.loads((base_model_dir / "config.json").read_text(encoding="utf-8"))
    if model_config.get("model_type") != "llama":
        raise SelftuneError(f"GGUF LoRA export supports Llama-architecture bases, not {model_config.get('model_type')}.")
    writer = gguf.GGUFWriter(str(out), arch="llama")
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(config.get("lora_alpha", config.get("r", 8))))
    for name, value in _gguf_tensors(weights, model_config).items():
        writer.add_tensor(name, value)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out
