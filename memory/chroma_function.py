"""Chroma's view of our MiniLM embedder, in its own module because importing chromadb takes ~1-2 s."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
from chromadb.utils.embedding_functions import known_embedding_functions

from memory.embedders import get_embedder

EF_NAME = "selftune_minilm"


class MiniLMFunction(EmbeddingFunction[Documents]):
    """Chroma's view of our embedder (for `query_texts`/`documents`); loads nothing until called."""

    def __init__(self, backend: str = "onnx-int8", models_dir: str = "") -> None:
        self.backend, self.models_dir = backend, models_dir

    def __call__(self, input: Documents) -> Embeddings:  # noqa: A002 - Chroma's parameter name
        """Unit vectors of the documents."""
        return cast(Embeddings, get_embedder(self.backend, Path(self.models_dir))(list(input)))

    @staticmethod
    def name() -> str:
        """The name Chroma stores in the collection's configuration."""
        return EF_NAME

    def get_config(self) -> dict[str, Any]:
        """What Chroma persists to rebuild this function (no model is loaded to rebuild it)."""
        return {"backend": self.backend, "models_dir": self.models_dir}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> MiniLMFunction:
        """The function described by get_config()."""
        return MiniLMFunction(config.get("backend", "onnx-int8"), config.get("models_dir", ""))

    def default_space(self) -> Any:
        """Cosine distance: MiniLM's vectors are compared by angle."""
        return "cosine"



# Chroma rebuilds a collection's function from its stored configuration by name; ours loads nothing to do so.
known_embedding_functions.setdefault(EF_NAME, MiniLMFunction)
