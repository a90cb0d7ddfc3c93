"""Embedding backends: the same vectors and the same top hits; each selectable; older indexes still open."""

from __future__ import annotations

import numpy as np
import pytest

from config.settings import MemoryConfig, Settings
from memory.embedders import BACKENDS, EXACT, LOADS, get_embedder
from memory.store import Memory

DOCS = [
    "The deploy password rotation happens every Friday",
    "My favourite pizza topping is pineapple",
    "The GPU box has an RTX 4090 with 24 GB of memory",
    "Our cat Pixel sleeps on the radiator all winter",
    "The quarterly budget review moved to Thursday afternoon",
    "Remember to water the basil plant on the balcony",
]
QUERIES = {
    "when do we change passwords?": 0,
    "what graphics card is in the training machine?": 2,
    "where does the cat nap?": 3,
    "which herb needs watering?": 5,
}


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_backend_finds_the_same_top_hit(settings: Settings, backend: str) -> None:
    embed = get_embedder(backend, settings.models_dir)
    docs = np.stack(embed(DOCS))
    queries = np.stack(embed(list(QUERIES)))
    assert docs.shape == (len(DOCS), 384) and np.allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-4)
    assert list((queries @ docs.T).argmax(axis=1)) == list(QUERIES.values())
    reference = np.stack(get_embedder("sentence-transformers", settings.models_dir)(DOCS))
    agreement = float(np.min(np.sum(docs * reference, axis=1)))
    assert agreement > (0.9999 if backend in EXACT else 0.95)  # exact backends are interchangeable; int8 is close
    assert LOADS[backend] == 1  # loaded once per process, whatever the state dir


def test_backend_is_chosen_by_settings_and_batches_keep_order(settings: Settings, say) -> None:
    chosen = settings.model_copy(update={"memory": MemoryConfig(embedder="torch")})
    memory = Memory(chosen)
    try:
        assert memory.index.embedder.name == "torch"
        memory.log_many([say(text) for text in DOCS])
        for query, answer in QUERIES.items():
            assert memory.recall(query, k=1)[0].text == DOCS[answer]
    finally:
        memory.close()
    lengths = ["short", "a much longer sentence " * 20, "mid sized text here"]
    one_by_one = [get_embedder("onnx", settings.models_dir)([t])[0] for t in lengths]
    assert np.allclose(np.stack(get_embedder("onnx", settings.models_dir)(lengths)), np.stack(one_by_one), atol=1e-5)


def test_an_index_made_with_sentence_transformers_still_opens_and_recalls(settings: Settings, say) -> None:
    import chromadb
    from chromadb.config import Settings as ChromaSettings
    from chromadb.utils.embedding_functions import SentenceTransformerEmbeddingFunction

    from memory.embedders import model_path

    old = chromadb.PersistentClient(path=str(settings.chroma_dir), settings=ChromaSettings(anonymized_telemetry=False))
    old.get_or_create_collection("messages", configuration={"hnsw": {"space": "cosine"}},
                                 embedding_function=SentenceTransformerEmbeddingFunction(str(model_path()), device="cpu"))
    old.close()
    memory = Memory(settings)  # the collection's stored function names sentence-transformers, not ours
    try:
        memory.log_many([say(text) for text in DOCS])
        assert memory.recall("where does the cat nap?", k=1)[0].text == DOCS[3]
    finally:
        memory.close()


def test_a_message_forgotten_while_being_indexed_does_not_come_back(settings: Settings, say) -> None:
    from memory import log as convlog

    memory = Memory(settings, index_on_log=False)
    try:
        memory.log_many([say("my locker code is 4512", author="mallory"), say("lunch at noon", author="bob")])
        read_by_indexer = convlog.unindexed(memory.conn)  # a background run has read them ...
        memory.forget(user="mallory")  # ... when the user forgets theirs
        memory._index(read_by_indexer)  # the run goes on with what it read
        assert memory.index.documents_for([m.id for m in read_by_indexer]) == ["lunch at noon"]
    finally:
        memory.close()
