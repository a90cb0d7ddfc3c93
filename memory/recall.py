"""Recall: a ChromaDB index of verbatim message chunks, embedded from the packaged all-MiniLM-L6-v2.

We embed (memory.embedders, backend memory.embedder) and hand Chroma the vectors; opening the index loads
no model, so only a recall or an index write ever does. The collection's metadata records the vector space
that made its vectors (`embedder`); an index of another space is neither written nor queried (memory.store
re-embeds it), so switching embedders never mixes vectors.

The index is derived from the SQLite log. Writes go through one lock (a thread lock inside this
process plus a file lock across processes), so there is one writer at a time; queries take no lock.
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from filelock import FileLock
from pydantic import BaseModel, ConfigDict

from config.errors import SelftuneError
from config.settings import Settings
from memory.embedders import MINILM_SPACE, Embedder, get_embedder, space_of
from memory.log import LoggedMessage

log = logging.getLogger(__name__)
COLLECTION = "messages"
CHUNK_CHARS = 1000  # MiniLM reads ~256 word pieces; ~1000 characters of chat text fit in that
EMBED_BATCH = 256
OVERFETCH = 64  # unfiltered candidates tried before a filtered Chroma search
# bench/memory.py's chat vectors crowd into a few directions (mean pairwise cosine ~0.3-0.4, MiniLM and model2vec alike):
# Chroma's default graph (16 links, ef 100) lost the answer for a third of bench/memory.py's questions at 100k
# messages that exact search finds (R@5 0.65 vs 0.985); 32 links, ef_construction 200 and ef_search 800 found 0.94
# (ef_search 400: 0.90) at ~2 ms a query. Applies to new indexes.
HNSW = {"space": "cosine", "max_neighbors": 32, "ef_construction": 200, "ef_search": 800}
_THREAD_LOCK = threading.RLock()


class RecallHit(BaseModel):
    """A remembered message (or a chunk of a long one) that matches a query."""

    model_config = ConfigDict(extra="forbid")

    message_id: str
    text: str
    channel: str
    author: str
    role: str
    created_at: datetime
    distance: float


def chunk_text(text: str, size: int = CHUNK_CHARS) -> list[str]:
    """Split text into verbatim pieces of at most `size` characters, preferring whitespace boundaries."""
    chunks: list[str] = []
    rest = text
    while len(rest) > size:
        cut = rest.rfind(" ", size // 2, size)
        cut = cut if cut > 0 else size
        chunks.append(rest[:cut])
        rest = rest[cut:]
    return [*chunks, rest] if rest or not chunks else chunks


def build_where(
    channel: str | None = None, author: str | None = None,
    since: datetime | None = None, until: datetime | None = None,
) -> dict[str, Any] | None:
    """A Chroma metadata filter from the optional conditions (None when there are none)."""
    terms: list[dict[str, Any]] = []
    if channel is not None:
        terms.append({"channel": channel})
    if author is not None:
        terms.append({"author": author})
    if since is not None:
        terms.append({"ts": {"$gte": _ts(since)}})
    if until is not None:
        terms.append({"ts": {"$lt": _ts(until)}})
    if not terms:
        return None
    return terms[0] if len(terms) == 1 else {"$and": terms}


def _ts(moment: datetime) -> float:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _records(messages: Sequence[LoggedMessage]) -> tuple[list[str], list[str], list[dict[str, Any]]]:
    ids, docs, metas = [], [], []
    for msg in messages:
        for n, piece in enumerate(chunk_text(msg.text)):
            ids.append(f"{msg.id}#{n}")
            docs.append(piece)
            metas.append({"message_id": msg.id, "channel": msg.channel, "author": msg.author, "role": msg.role,
                          "transport": msg.transport, "ts": msg.ts, "chunk": n})
    return ids, docs, metas


class RecallIndex:
    """The Chroma collection of message chunks at settings.chroma_dir."""

    def __init__(self, settings: Settings) -> None:
        self.path = settings.chroma_dir
        self._lock_path = settings.home / "chroma.write.lock"
        self._client: Any = None
        self._collection: Any = None
        self.backend, self.models_dir = settings.memory.embedder, settings.models_dir
        self.space = space_of(self.backend)
        self.stored_space = self.space  # the space of the opened collection's vectors (set when it opens)

    @property
    def embedder(self) -> Embedder:
        """The process-wide MiniLM of the configured backend (loaded on its first call)."""
        return get_embedder(self.backend, self.models_dir)

    def warm(self) -> None:
        """Load the embedder and open the index now, off the path of the first recall."""
        self.embedder(["warm up"])
        _ = self.collection

    # --- opening and closing -------------------------------------------------------------------
    def _open(self) -> Any:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        from memory.chroma_function import MiniLMFunction

        self.path.mkdir(parents=True, exist_ok=True)
        self._client = chromadb.PersistentClient(
            path=str(self.path), settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False)
        )
        try:
            collection = self._client.get_or_create_collection(
                COLLECTION, embedding_function=MiniLMFunction(self.backend, str(self.models_dir)),
                configuration={"hnsw": HNSW}, metadata={"embedder": self.space},
            )
        except ValueError as exc:
            if "conflict" not in str(exc):
                raise
            # An index made before the embedder was selectable names sentence-transformers in its configuration;
            # its vectors are MiniLM's, so use it as it is (embeddings are always passed) until a reindex renews it.
            log.warning("the recall index at %s predates memory.embedder; run `selftune memory reindex` once so "
                        "writing to it stops loading sentence-transformers", self.path)
            collection = self._client.get_collection(COLLECTION, embedding_function=None)
        # An index from before spaces were recorded holds MiniLM vectors (the only embedder then).
        self.stored_space = (collection.metadata or {}).get("embedder", MINILM_SPACE)
        return collection

    @property
    def mismatched(self) -> bool:
        """True when the index holds vectors of another space than memory.embedder makes (re-embed it first)."""
        _ = self.collection
        return self.stored_space != self.space

    def _same_space(self) -> None:
        if self.mismatched:
            raise SelftuneError(
                f"The recall index at {self.path} holds vectors of {self.stored_space}, not of memory.embedder = "
                f"{self.backend}; run `selftune memory reindex` to re-embed it from the conversation log."
            )

    @property
    def collection(self) -> Any:
        """The Chroma collection, opened on first use."""
        if self._collection is None:
            with _THREAD_LOCK:
                if self._collection is None:
                    try:
                        self._collection = self._open()
                    except SelftuneError:
                        raise
                    except Exception as exc:  # a damaged index: the log can rebuild it
                        raise SelftuneError(
                            f"The recall index at {self.path} cannot be opened ({exc}); "
                            "run `selftune memory reindex` to rebuild it from the conversation log."
                        ) from None
        return self._collection

    def close(self) -> None:
        """Release the Chroma client (needed before its folder is moved or deleted)."""
        if self._client is not None:
            self._client.close()
        self._client = self._collection = None

    def writing(self) -> Any:
        """The single-writer lock: a context manager held around every write."""
        return _WriteLock(self._lock_path)

    # --- writes (one writer at a time) ----------------------------------------------------------
    def add(self, messages: Sequence[LoggedMessage]) -> int:
        """Embed and store messages as verbatim chunks (re-adding a message replaces it); return chunk count."""
        ids, docs, metas = _records(messages)
        self._same_space()  # never mix two embedders' vectors in one index
        with self.writing():
            for start in range(0, len(ids), EMBED_BATCH):
                end = start + EMBED_BATCH
                vectors = self.embedder(docs[start:end])  # embedded here, not by Chroma: see _open
                self.collection.upsert(ids=ids[start:end], documents=docs[start:end], metadatas=metas[start:end],
                                       embeddings=vectors)
        return len(ids)

    def delete(self, *, message_ids: Sequence[str] = (), where: dict[str, Any] | None = None) -> None:
        """Remove the chunks of the given messages and/or every chunk matching a metadata filter."""
        with self.writing():
            for start in range(0, len(message_ids), 500):
                self.collection.delete(where={"message_id": {"$in": list(message_ids[start:start + 500])}})
            if where is not None:
                self.collection.delete(where=where)

    def rebuild(self) -> None:
        """Drop the whole index (its folder) and start empty, without ever loading the old one.

        Loading it would bring forgotten text (still in Chroma's SQLite pages and HNSW files) into this process's
        heap, and hnswlib writes its new files from uninitialised memory: a test found such text there again.
        """
        from chromadb.api.shared_system_client import SharedSystemClient

        with self.writing():
            self.close()
            # Chroma caches one system per path; a new client on the emptied folder must not reuse it.
            SharedSystemClient._identifier_to_system.pop(str(self.path), None)
            SharedSystemClient._identifier_to_refcount.pop(str(self.path), None)
            if self.path.exists():
                shutil.rmtree(self.path)
            _ = self.collection

    # --- reads (no lock) -------------------------------------------------------------------------
    def count(self) -> int:
        """How many chunks the index holds."""
        return self.collection.count()

    def query(self, text: str, *, k: int = 4, where: dict[str, Any] | None = None,
              embedding: Sequence[float] | None = None) -> list[RecallHit]:
        """The k messages closest in meaning to text (or a precomputed embedding), best first, each once."""
        if k <= 0 or (embedding is None and not text.strip()):
            return []
        self._same_space()  # a query vector of one space against another's index finds nonsense
        if embedding is None:
            embedding = self.embedder([text])[0]
        include = ["documents", "metadatas", "distances"]
        if where is not None:
            # Chroma's filtered search is slow on big indexes; the unfiltered top OVERFETCH usually holds
            # k matches, and when it does they are exactly the best k matches (all others are farther).
            result = self.collection.query(query_embeddings=[embedding], n_results=max(OVERFETCH, k), include=include)
            hits = [h for h in _hits(result) if _matches(h, where)]
            if len(hits) >= k:
                return hits[:k]
        result = self.collection.query(query_embeddings=[embedding], n_results=k, where=where, include=include)
        return _hits(result)

    def query_embedding(self, embedding: Sequence[float], *, k: int = 4, where: dict[str, Any] | None = None) -> Any:
        """A raw Chroma query with a precomputed embedding (used by the benchmark as the baseline)."""
        return self.collection.query(query_embeddings=[list(embedding)], n_results=k, where=where)

    def documents_for(self, message_ids: Sequence[str]) -> list[str]:
        """Every stored chunk of the given messages (used to prove forgetting)."""
        if not message_ids:
            return []
        got = self.collection.get(where={"message_id": {"$in": list(message_ids)}}, include=["documents"])
        return list(got["documents"] or [])


def _hits(result: dict[str, Any]) -> list[RecallHit]:
    hits: list[RecallHit] = []
    seen: set[str] = set()
    for doc, meta, dist in zip(result["documents"][0], result["metadatas"][0], result["distances"][0], strict=True):
        if meta["message_id"] in seen:
            continue
        seen.add(meta["message_id"])
        hits.append(RecallHit(
            message_id=meta["message_id"], text=doc, channel=meta["channel"], author=meta["author"],
            role=meta["role"], created_at=datetime.fromtimestamp(meta["ts"], UTC), distance=float(dist),
        ))
    return hits


def _matches(hit: RecallHit, where: dict[str, Any]) -> bool:
    """Evaluate a filter made by build_where on a hit (equality, $gte, $lt, $and)."""
    if "$and" in where:
        return all(_matches(hit, term) for term in where["$and"])
    (key, cond), = where.items()
    value = hit.created_at.timestamp() if key == "ts" else getattr(hit, key)
    if not isinstance(cond, dict):
        return value == cond
    return all((value >= bound) if op == "$gte" else (value < bound) for op, bound in cond.items())


class _WriteLock:
    """Thread lock + file lock: one writer to the index across threads and processes."""

    def __init__(self, path: Any) -> None:
        self._file = FileLock(str(path), timeout=120)

    def __enter__(self) -> None:
        _THREAD_LOCK.acquire()
        try:
            self._file.acquire()
        except BaseException:
            _THREAD_LOCK.release()
            raise

    def __exit__(self, *exc: object) -> None:
        self._file.release()
        _THREAD_LOCK.release()
