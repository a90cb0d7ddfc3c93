"""Export: merged weights reproduce the adapter's logits; the LoRA GGUF runs in a real llama.cpp server."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
import torch

from skills.evaluate.loading import load_with_adapters
from skills.export.merge import merge_adapter
from skills.train.lookup import resolve_adapter


def test_merged_model_reproduces_adapter_logits(settings, tiny_adapter: Path, tmp_path):
    from transformers import AutoModelForCausalLM

    ref = resolve_adapter(tiny_adapter, settings)
    out = merge_adapter(settings, ref, tmp_path / "merged")
    peft_model, tok = load_with_adapters(settings, ref)
    merged = AutoModelForCausalLM.from_pretrained(out).eval()
    ids = tok("Arr matey, tell me about the ship.", return_tensors="pt").input_ids
    with torch.no_grad():
        assert torch.allclose(peft_model(ids).logits, merged(ids).logits, atol=1e-4)
    assert not (out / "adapter_config.json").exists() and (out / "tokenizer.json").is_file()


@pytest.mark.slow
def test_lora_gguf_in_llama_cpp_matches_peft_next_token_distribution(smollm2_dir: Path, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from skills.export.gguf import write_lora_gguf
    from skills.export.serve import LlamaServer
    from skills.models import smollm2_gguf_path

    torch.manual_seed(0)  # a random, non-zero LoRA on q/k/v/o: any layout mistake shows in the logits
    tok = AutoTokenizer.from_pretrained(smollm2_dir)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(smollm2_dir), LoraConfig(
        r=4, lora_alpha=8, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"], init_lora_weights=False)).eval()
    model.save_pretrained(tmp_path / "adapter")
    gguf_path = write_lora_gguf(tmp_path / "adapter", smollm2_dir, tmp_path / "adapter.gguf")
    prompt = tok.apply_chat_template([{"role": "user", "content": "Tell me about the storm."}], tokenize=False,
                                     add_generation_prompt=True)
    with torch.no_grad():
        logprobs = torch.log_softmax(model(**tok(prompt, return_tensors="pt", add_special_tokens=False)).logits[0, -1], -1)
    expected = [tok.decode([int(i)]) for i in torch.topk(logprobs, 3).indices]
    with LlamaServer(smollm2_gguf_path(), {"pirate": gguf_path}) as server:
        server.use("pirate")
        assert server.loaded()[0]["scale"] == 1.0
        top = _top_logprobs(server.port, prompt)
        reply = server.client().chat.completions.create(
            model="smollm2", messages=[{"role": "user", "content": "hi"}], max_tokens=8, temperature=0)
        server.use(None)  # back to the plain base without a restart
        assert server.loaded()[0]["scale"] == 0.0
    assert [t for t, _ in top[:3]] == expected
    for token, value in top[:3]:
        assert value == pytest.approx(float(logprobs[tok.convert_tokens_to_ids(tok.tokenize(token))[0]]), abs=0.25)
    assert reply.choices[0].message.content


def _top_logprobs(port: int, prompt: str) -> list[tuple[str, float]]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/completion", headers={"Content-Type": "application/json"},
                                 data=json.dumps({"prompt": prompt, "n_predict": 1, "n_probs": 5}).encode())
    with urllib.request.urlopen(req, timeout=60) as resp:
        data = json.loads(resp.read())
    return [(p["token"], p["logprob"]) for p in data["completion_probabilities"][0]["top_logprobs"]]
