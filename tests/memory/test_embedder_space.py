"""The default embedder: recall quality on a small hand-written chat, one vector space per index, no download."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import numpy as np
import pytest

from config.settings import MemoryConfig, Settings
from memory.embedders import DEFAULT, MINILM_SPACE, distill_static, space_of
from memory.log import LoggedMessage
from memory.store import Memory
from tests.conftest import DATA

CHAT = [json.loads(line) for line in (DATA / "recall" / "chat.jsonl").read_text().splitlines()]
QUESTIONS = [json.loads(line) for line in (DATA / "recall" / "questions.jsonl").read_text().splitlines()]


def _log_chat(memory: Memory) -> None:
    memory.log_many([LoggedMessage(id=row["id"], text=row["text"], author=row["author"], channel="team",
                                   transport="discord") for row in CHAT])


def _recall_at_5(memory: Memory) -> float:
    found = [q["answer"] in {h.message_id for h in memory.recall(q["q"], k=5)} for q in QUESTIONS]
    return sum(found) / len(found)


def test_default_embedder_recalls_the_answer_in_the_top_5(settings: Settings) -> None:
    assert settings.memory.embedder == DEFAULT == "model2vec"
    memory = Memory(settings)
    try:
        _log_chat(memory)
        assert memory.index.stored_space == space_of(DEFAULT) != MINILM_SPACE
        assert _recall_at_5(memory) >= 0.9
    finally:
        memory.close()


def _stored(settings: Settings) -> tuple[str, list[int]]:
    """The space an index records and the length of every vector it holds (read straight from Chroma)."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    client = chromadb.PersistentClient(path=str(settings.chroma_dir), settings=ChromaSettings(anonymized_telemetry=False))
    try:
        col = client.get_collection("messages", embedding_function=None)
        vectors = col.get(include=["embeddings"])["embeddings"]
        return col.metadata["embedder"], sorted({len(v) for v in vectors})
    finally:
        client.close()


def test_switching_embedder_re_embeds_instead_of_mixing_vectors(settings: Settings) -> None:
    minilm = settings.model_copy(update={"memory": MemoryConfig(embedder="onnx-int8")})
    memory = Memory(minilm)
    try:
        _log_chat(memory)
    finally:
        memory.close()
    assert _stored(settings) == (MINILM_SPACE, [384])

    memory = Memory(settings)  # the default: model2vec, another space
    try:
        assert memory.index.mismatched
        hits = memory.recall("what is Sven allergic to?", k=1)  # re-embeds the whole log first
        assert hits[0].message_id == "m15"
        assert memory.index.count() == len(CHAT)
    finally:
        memory.close()
    assert _stored(settings) == (space_of("model2vec"), [256])  # every vector re-made, none of MiniLM's left


def test_an_index_of_another_space_is_never_written_or_queried(settings: Settings) -> None:
    from config.errors import SelftuneError

    memory = Memory(settings.model_copy(update={"memory": MemoryConfig(embedder="onnx-int8")}))
    try:
        _log_chat(memory)
        memory.index.space = space_of("model2vec")  # what a process configured for model2vec sees
        with pytest.raises(SelftuneError, match="memory reindex"):
            memory.index.add([LoggedMessage(text="new", author="x", channel="team")])
        with pytest.raises(SelftuneError, match="memory reindex"):
            memory.index.query("anything", embedding=np.zeros(256, np.float32))
    finally:
        memory.close()


@pytest.mark.slow
def test_the_static_model_is_distilled_from_the_packaged_folder_without_network(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: socket.socket, address: object) -> None:
        raise AssertionError(f"network access during distillation: {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    # the distillation runs in a child process: a sitecustomize on its path refuses connections there too
    hook = tmp_path / "no-network"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(
        "import socket\n\n\ndef refuse(self, address):\n"
        "    raise AssertionError(f'network access during distillation: {address}')\n\n\n"
        "socket.socket.connect = refuse\n", encoding="utf-8")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(hook), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf-home"))  # no hub cache to fall back on either
    target = distill_static(tmp_path / "static")
    assert (target / "model.safetensors").is_file()
    from model2vec import StaticModel

    vectors = StaticModel.from_pretrained(str(target)).encode(["a cat on the radiator", "the GPU box"])
    assert vectors.shape == (2, 256)
