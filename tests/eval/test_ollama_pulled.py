"""Persona models FROM the model the user pulled into Ollama + ADAPTER + SYSTEM + PARAMETERs, checked against
the fake Ollama server's /api/show: the pulled model's own template is kept, another base is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.errors import SelftuneError
from skills.export.ollama_pulled import (
    BASE_COUNT_KEY,
    adapter_base,
    create_from_pulled,
    modelfile_from,
    parameter_size,
)
from tests.eval.fake_ollama import FakeOllama

SMOLLM2_135M = 134_515_008  # SmolLM2-135M-Instruct's parameters (safetensors headers)
PARAMS = (4096, 0.7, 1.1)  # num_ctx, temperature, repeat_penalty


def lora_gguf(path: Path, arch: str = "llama", base_count: int | None = SMOLLM2_135M) -> Path:
    """A LoRA GGUF as skills.export.gguf writes it: adapter type, architecture, the base's parameter count."""
    import gguf
    import numpy as np

    writer = gguf.GGUFWriter(str(path), arch=arch)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, 16.0)
    if base_count is not None:
        writer.add_uint64(BASE_COUNT_KEY, base_count)
    writer.add_tensor("blk.0.attn_q.weight.lora_a", np.zeros((2, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.fixture
def ollama_server():
    with FakeOllama() as server:
        server.pull("smollm2:135m", "llama", "135M", context_length=8192)
        server.pull("qwen3:8b", "qwen3", "8.2B", parameter_count=8_190_735_360)
        server.pull("llama3.2:3b", "llama", "3.2B")
        yield server


def test_created_from_the_pulled_model_with_adapter_system_and_parameters(tmp_path, ollama_server) -> None:
    adapter = lora_gguf(tmp_path / "pirate.gguf")
    assert adapter_base(adapter) == ("llama", SMOLLM2_135M)
    result = create_from_pulled(ollama_server.host, "selftune-pirate:v1", "smollm2:135m", "pirate-lora/v1", adapter,
                                "Be a pirate.", PARAMS)
    create = next(body for _, path, body in ollama_server.calls if path == "/api/create")
    assert create["from"] == "smollm2:135m" and create["system"] == "Be a pirate."
    assert list(create["adapters"]) == ["pirate.gguf"] and "files" not in create
    assert "template" not in create  # the pulled model's own template stays
    assert create["parameters"] == {"temperature": 0.7, "num_ctx": 4096, "repeat_penalty": 1.1,
                                    "stop": ["<|im_start|>", "<|im_end|>"]}
    assert result["status"] == "success" and result["from"] == "smollm2:135m"
    text = modelfile_from("smollm2:135m", adapter, "Be a pirate.", result["parameters"])
    assert text.splitlines()[:3] == ["FROM smollm2:135m", f"ADAPTER {adapter}", 'SYSTEM """Be a pirate."""']
    assert "PARAMETER repeat_penalty 1.1" in text and 'PARAMETER stop "<|im_end|>"' in text
    assert not any(line.startswith("TEMPLATE") for line in text.splitlines())


@pytest.mark.parametrize(("model", "why"), [
    ("qwen3:8b", "trained on a llama model of 135M, but Ollama's qwen3:8b is a qwen3 model of 8.2B"),
    ("llama3.2:3b", "trained on a llama model of 135M, but Ollama's llama3.2:3b is a llama model of 3.2B"),
])
def test_adapter_of_another_base_is_refused_in_one_sentence(tmp_path, ollama_server, model: str, why: str) -> None:
    adapter = lora_gguf(tmp_path / "pirate.gguf")
    with pytest.raises(SelftuneError) as caught:
        create_from_pulled(ollama_server.host, "selftune-pirate:v1", model, "pirate-lora/v1", adapter, None, PARAMS)
    message = str(caught.value)
    assert why in message and message.endswith(".") and message.count(". ") == 0
    assert not any(path == "/api/create" for _, path, _ in ollama_server.calls)


def test_a_model_not_pulled_is_one_sentence(tmp_path, ollama_server) -> None:
    with pytest.raises(SelftuneError, match=r"has no model 'mistral:7b'; run `ollama pull mistral:7b` there"):
        create_from_pulled(ollama_server.host, "x", "mistral:7b", "a/v1", lora_gguf(tmp_path / "a.gguf"), None, PARAMS)


def test_parameter_size_text() -> None:
    assert parameter_size("8.2B") == 8_200_000_000 and parameter_size("135.27M") == 135_270_000
    assert parameter_size("") is None
