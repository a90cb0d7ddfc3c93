"""`export --quant q4_k_m`: SmolLM2 (a real model: near-ties are rare) written as Q4_K_M by requantizing the
converter's f16 with libgguf's ggml kernels, in llama-quantize's per-tensor mix; llama.cpp loads it and its
most likely next token matches PEFT/transformers' on three prompts (slow: converts and loads 135M weights)."""

from __future__ import annotations

from pathlib import Path

import pytest

from skills.export.gguf import converter_missing
from skills.export.quantize import quantizer_missing
from skills.export.serve import LlamaServer
from tests.export.test_gguf_archs import PROMPTS, top3

NEEDS_BOTH = pytest.mark.skipif(bool(converter_missing() or quantizer_missing()),
                                reason=str(converter_missing() or quantizer_missing()))


def test_without_libgguf_q4_k_m_is_one_sentence_naming_the_extra(tmp_path: Path, monkeypatch) -> None:
    import sys

    from config.errors import SelftuneError
    from skills.export.gguf import write_model_gguf

    monkeypatch.setitem(sys.modules, "libgguf", None)  # as if not installed
    with pytest.raises(SelftuneError, match=r"q4_k_m GGUF .*pip install 'selftune\[quant\]'"):
        write_model_gguf(tmp_path / "model", tmp_path / "out.gguf", "q4_k_m")
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
@NEEDS_BOTH
def test_q4_k_m_gguf_has_llama_quantize_mix_and_keeps_the_top_token(smollm2_dir: Path, tmp_path: Path) -> None:
    import gguf
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from skills.export.gguf import write_model_gguf

    path = write_model_gguf(smollm2_dir, tmp_path / "smollm2-q4_k_m.gguf", "q4_k_m")
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # the f16 step file is gone
    reader = gguf.GGUFReader(path)
    types = {t.name: t.tensor_type.name for t in reader.tensors}
    assert reader.fields["general.file_type"].contents() == gguf.LlamaFileType.MOSTLY_Q4_K_M
    assert types["blk.0.ffn_down.weight"] == "Q6_K" and types["blk.4.ffn_down.weight"] == "Q4_K"  # 1536-wide rows
    assert types["blk.0.attn_q.weight"] == "Q5_0"  # 576-wide rows: llama-quantize's fallback for Q4_K
    assert types["token_embd.weight"] == "Q8_0" and types["blk.0.attn_norm.weight"] == "F32"  # tied output: Q6_K->Q8_0
    assert path.stat().st_size < 0.45 * sum(t.n_elements for t in reader.tensors) * 2  # well under f16's size

    tok = AutoTokenizer.from_pretrained(smollm2_dir)
    model = AutoModelForCausalLM.from_pretrained(smollm2_dir, dtype=torch.float32).eval()
    prompts = [tok(p).input_ids for p in PROMPTS]
    with torch.no_grad():
        expected = [int(model(torch.tensor([ids])).logits[0, -1].argmax()) for ids in prompts]
    with LlamaServer(path) as server:
        got = [top3(server.port, ids, [])[0] for ids in prompts]
    assert got == expected
