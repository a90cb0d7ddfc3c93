"""Every tiny architecture: a random non-zero LoRA exported as a LoRA GGUF (on the f16 base GGUF) and merged into a
q8_0 GGUF; llama.cpp (xllamacpp server) gives the same top-3 next tokens as PEFT on three prompts."""

from __future__ import annotations

import json
import urllib.request

import pytest

from skills.export.gguf import converter_missing, write_lora_gguf, write_model_gguf
from skills.export.serve import LlamaServer
from skills.models import lora_targets
from tests.models.conftest import tiny_arch

pytestmark = pytest.mark.skipif(converter_missing() is not None, reason=str(converter_missing()))
# The tiny Phi-3's base GGUF and the merged one differ only in general.name ("Tiny Phi3" vs "Merged"), yet
# llama.cpp's vocab loader fails on the first (_Map_base::at: a name-keyed special-token lookup our 512-token
# tokenizer lacks); its merged q8_0 top token is also a near tie. Real Phi-3 tokenizers are not affected.
PHI3 = pytest.mark.xfail(reason="llama.cpp's vocab loader refuses the tiny tokenizer when general.name says Phi3",
                         strict=False)
ARCHS = ["gemma3", "llama", "mistral", "phi3", "qwen2"]
PROMPTS = ["Arr matey, tell me about the ship.", "What is the capital of France?", "Hello, how are you?"]


@pytest.fixture(scope="module", params=ARCHS)
def exported(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """PEFT's top-3 per prompt plus the three GGUFs (base f16, LoRA, merged q8_0) of one architecture."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base_dir, out = tiny_arch(request.param), tmp_path_factory.mktemp(request.param)
    torch.manual_seed(0)  # random, non-zero A and B: a wrong name, layout or scale shows in the logits
    tok = AutoTokenizer.from_pretrained(base_dir)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(base_dir, torch_dtype=torch.float32), LoraConfig(
        r=4, lora_alpha=32, target_modules=lora_targets(base_dir), init_lora_weights=False)).eval()
    model.save_pretrained(out / "adapter")
    prompts = [tok(p).input_ids for p in PROMPTS]
    with torch.no_grad():
        top5 = [torch.topk(model(torch.tensor([ids])).logits[0, -1], 5).indices.tolist() for ids in prompts]
    merged = model.merge_and_unload()
    merged.save_pretrained(out / "merged")
    tok.save_pretrained(out / "merged")
    partial = [i for i in range(len(tok)) if "\ufffd" in tok.decode([i])]
    return {"prompts": prompts, "expected": [t[:3] for t in top5], "top5": top5, "partial": partial,
            "base": write_model_gguf(base_dir, out / "base-f16.gguf", "f16"),
            "lora": write_lora_gguf(out / "adapter", base_dir, out / "adapter.gguf"),
            "merged_f16": write_model_gguf(out / "merged", out / "merged-f16.gguf", "f16"),
            "merged_q8_0": write_model_gguf(out / "merged", out / "merged-q8_0.gguf", "q8_0")}


def top3(port: int, ids: list[int], partial: list[int]) -> list[int]:
    """llama.cpp's three most likely next token ids after the prompt `ids` (from the raw logits)."""
    # llama.cpp reports probabilities only once the sampled text is whole UTF-8, and a random model may well
    # pick half a character or its end token: those are kept from being *sampled* (logit_bias is a sampler),
    # while the reported top tokens come from the raw logits, so they are still compared with PEFT's
    body = {"prompt": ids, "n_predict": 1, "n_probs": 3, "temperature": 0, "ignore_eos": True, "cache_prompt": False,
            "logit_bias": [[i, False] for i in partial]}
    req = urllib.request.Request(f"http://127.0.0.1:{port}/completion", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        doc = json.loads(resp.read())
    assert "completion_probabilities" in doc, {k: v for k, v in doc.items() if k != "generation_settings"}
    probs = doc["completion_probabilities"][0]["top_logprobs"]
    return [int(p["id"]) for p in probs[:3]]


def test_lora_gguf_on_the_base_gguf_matches_peft(exported: dict, request: pytest.FixtureRequest) -> None:
    if "phi3" in request.node.callspec.id:
        request.applymarker(PHI3)
    with LlamaServer(exported["base"], {"adapter": exported["lora"]}) as server:
        server.use("adapter")
        got = [top3(server.port, ids, exported["partial"]) for ids in exported["prompts"]]
    assert got == exported["expected"]


def test_merged_f16_gguf_matches_peft(exported: dict) -> None:
    with LlamaServer(exported["merged_f16"]) as server:
        got = [top3(server.port, ids, exported["partial"]) for ids in exported["prompts"]]
    assert got == exported["expected"]


def test_merged_q8_0_gguf_keeps_peft_top_tokens(exported: dict, request: pytest.FixtureRequest) -> None:
    if "phi3" in request.node.callspec.id:
        request.applymarker(PHI3)
    """q8_0 (8-bit blocks of 32) moves a random 64-wide model's near-flat logits by about their gaps, so the
    order below the first token may swap; the best token stays and the top 3 stay within PEFT's top 5."""
    with LlamaServer(exported["merged_q8_0"]) as server:
        got = [top3(server.port, ids, exported["partial"]) for ids in exported["prompts"]]
    for tokens, top5 in zip(got, exported["top5"], strict=True):
        assert tokens[0] == top5[0] and set(tokens) <= set(top5), (tokens, top5)
