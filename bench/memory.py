"""Memory benchmark: ingest rate, recall latency (ours vs a raw Chroma query), and recall quality (R@5),
plus the query embedders side by side (latency in this long-running process, R@5 on the same recall set):
ours (model2vec static, MiniLM via onnx-int8/onnx/sentence-transformers/torch) and Chroma's own ONNX MiniLM
function run on the packaged weights (exported once, offline; Chroma would otherwise download its copy).

    .venv/bin/python bench/memory.py                 # 10k real + 100k (90k synthetic vectors), ~3-5 min on 2 cores
    .venv/bin/python bench/memory.py --sizes 10000 --queries 100
    .venv/bin/python bench/memory.py --embedder sentence-transformers   # the backend recall uses
    .venv/bin/python bench/memory.py --real          # embed every message for real at every size (slow on CPU)

Messages are generated: "fact" messages whose answers the questions ask for, buried in chatter.
At sizes above --real-limit, only --real-limit messages go through Memory.log_many (the measured ingest path).
With the model2vec embedder (default) the rest are generated messages too, embedded for real and added to the
index in bulk (`--fill real`: facts spread over all of them). With MiniLM, whose embedding of 90k messages is too
slow on CPU, the rest are noisy copies of real chatter vectors (`--fill synthetic`: same dimension, same HNSW work
per query, but they crowd a static model's compressed similarities unrealistically). Printed lines say which.
Targets (issues 10, 23): recall p95 < 50 ms and <= 1.5x the raw index query at 100k, R@5 >= 0.9, query
embedding <= 3 ms p50.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Run as a script, bench/ is sys.path[0], and its siblings (bench/datasets.py) would shadow real packages.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from config.settings import MemoryConfig, Settings  # noqa: E402
from memory.embedders import EMBEDDERS, export_onnx, get_embedder, model_path  # noqa: E402
from memory.log import LoggedMessage  # noqa: E402
from memory.recall import build_where  # noqa: E402
from memory.store import Memory  # noqa: E402

NAMES = ["Alice", "Bruno", "Chen", "Dana", "Emeka", "Farah", "Gustav", "Hana", "Ivan", "Jia", "Kofi", "Lena",
         "Mateo", "Nora", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tariq", "Uma", "Viktor", "Wen", "Yara", "Zoe"]
THINGS = {"cat": "cat is named", "car": "car is a", "birthday": "birthday is on", "office": "office is in room",
          "password hint": "password hint is", "favourite band": "favourite band is", "dentist": "dentist is Dr.",
          "flight": "flight leaves from gate", "laptop": "laptop is a", "wifi network": "wifi network is called",
          "bike lock code": "bike lock code is", "allergy": "allergy is to", "team": "team is called",
          "hometown": "hometown is", "locker": "locker number is", "plant": "plant is a"}
QUESTION = ["What is {n}'s {t}?", "Remind me, {n}'s {t}?", "Do you remember {n}'s {t}?", "{n} told us about their {t}, what was it?"]
WORDS = ("deploy build tests lunch coffee meeting sprint review weather weekend movie football release bug fix "
         "server cache docker kernel garden recipe pasta holiday train budget invoice slides demo music guitar "
         "chess puzzle hiking camera photo podcast novel painting yoga running swim").split()


def make_corpus(size: int, facts: int, rng: random.Random) -> tuple[list[LoggedMessage], list[tuple[str, str]]]:
    """Messages (facts spread among chatter) and (question, answer message id) pairs."""
    start = datetime.now(UTC) - timedelta(days=30)
    pairs = [(n, t) for n in NAMES for t in THINGS]
    rng.shuffle(pairs)
    fact_slots = set(rng.sample(range(size), min(facts, len(pairs), size)))
    messages, questions = [], []
    fact_iter = iter(pairs)
    for i in range(size):
        when = start + timedelta(seconds=i * 20)
        if i in fact_slots:
            name, thing = next(fact_iter)
            value = f"{rng.choice(WORDS).title()}{rng.randint(10, 999)}"
            msg = LoggedMessage(text=f"Just so you know, {name}'s {THINGS[thing]} {value}.", channel=f"c{i % 7}",
                                author=name.lower(), created_at=when)
            questions.append((rng.choice(QUESTION).format(n=name, t=thing), msg.id))
        else:
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 14)))
            msg = LoggedMessage(text=f"{text}.", channel=f"c{i % 7}", author=rng.choice(NAMES).lower(),
                                role=rng.choice(["user", "assistant"]), created_at=when)
        messages.append(msg)
    return messages, questions


def ingest(memory: Memory, messages: list[LoggedMessage], batch: int = 500) -> float:
    """Log + embed + index through the facade in batches; return messages per second."""
    began = time.perf_counter()
    for start in range(0, len(messages), batch):
        memory.log_many(messages[start:start + batch])
    return len(messages) / (time.perf_counter() - began)


def pad_with_synthetic(memory: Memory, target: int, rng: np.random.Generator) -> float:
    """Fill the index up to `target` chunks with noisy copies of real chatter vectors; return vectors/s."""
    col = memory.index.collection
    seed = col.get(limit=2000, include=["embeddings", "metadatas"])
    base = np.asarray(seed["embeddings"], dtype=np.float32)
    began, added, n = time.perf_counter(), 0, col.count()
    while n + added < target:
        count = min(5000, target - n - added)
        vecs = base[rng.integers(0, len(base), count)] + rng.normal(0, 0.08, (count, base.shape[1])).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        ids = [f"synthetic-{n + added + j}" for j in range(count)]
        metas = [{"message_id": i, "channel": f"c{j % 7}", "author": "synthetic", "role": "user",
                  "transport": "bench", "ts": 0.0, "chunk": 0} for j, i in enumerate(ids)]
        with memory.index.writing():
            col.add(ids=ids, embeddings=vecs, metadatas=metas, documents=["(synthetic)"] * count)
        added += count
    return added / max(time.perf_counter() - began, 1e-9)


def fill_with_real(memory: Memory, messages: list[LoggedMessage]) -> float:
    """Embed the messages with the index's embedder and add them to the index in bulk (no log); return msg/s."""
    from memory.recall import _records

    ids, docs, metas = _records(messages)
    began = time.perf_counter()
    for start in range(0, len(ids), 5000):
        end = start + 5000
        vectors = memory.index.embedder(docs[start:end])
        with memory.index.writing():
            memory.index.collection.add(ids=ids[start:end], documents=docs[start:end], metadatas=metas[start:end],
                                        embeddings=vectors)
    return len(messages) / max(time.perf_counter() - began, 1e-9)


def percentile(values: list[float], q: float) -> float:
    """q-th percentile in milliseconds."""
    return float(np.percentile(np.asarray(values) * 1000, q))


def measure(memory: Memory, questions: list[tuple[str, str]], channel_filter: bool,
            channels: dict[str, str]) -> dict[str, float]:
    """Latencies of our recall (text), our recall (precomputed vector) and a raw collection.query; R@5."""
    texts = [q for q, _ in questions]
    vectors = memory.index.embedder(texts)
    col = memory.index.collection
    times: dict[str, list[float]] = {"ours": [], "vec": [], "raw": []}
    found = 0
    for n, ((text, answer), vec) in enumerate(zip(questions, vectors, strict=True)):
        channel = None
        if channel_filter:
            channel = channels[answer]
        where = build_where(channel=channel)
        calls = {"ours": lambda: memory.recall(text, channel=channel, k=5),  # noqa: B023 - called in this loop
                 "vec": lambda: memory.index.query(text, k=5, where=where, embedding=vec),  # noqa: B023
                 "raw": lambda: col.query(query_embeddings=[vec], n_results=5, where=where)}  # noqa: B023
        names = list(calls)
        for name in names[n % 3:] + names[:n % 3]:  # rotate who goes first: the first call warms caches
            t0 = time.perf_counter()
            result = calls[name]()
            times[name].append(time.perf_counter() - t0)
            if name == "ours":
                found += answer in {h.message_id for h in result}
    ours, ours_vec, raw = times["ours"], times["vec"], times["raw"]
    return {"ours_p50": percentile(ours, 50), "ours_p95": percentile(ours, 95),
            "vec_p50": percentile(ours_vec, 50), "vec_p95": percentile(ours_vec, 95),
            "raw_p50": percentile(raw, 50), "raw_p95": percentile(raw, 95), "r_at_5": found / len(questions)}


def chroma_onnx(models_dir: Path) -> object:
    """Chroma's ONNXMiniLM_L6_V2 on the packaged MiniLM: its folder layout, our export without pooling (no download)."""
    from chromadb.utils.embedding_functions import ONNXMiniLM_L6_V2

    folder = models_dir / "embeddings" / "chroma-onnx-minilm"
    graph = folder / "onnx" / "model.onnx"
    if not graph.exists():
        export_onnx(graph, pooled=False)
    for name in ("config.json", "special_tokens_map.json", "tokenizer_config.json", "tokenizer.json", "vocab.txt"):
        if not (folder / "onnx" / name).exists():
            (folder / "onnx" / name).symlink_to(model_path() / name)
    function = ONNXMiniLM_L6_V2(preferred_providers=["CPUExecutionProvider"])
    function.DOWNLOAD_PATH = folder  # every file is there, so it never reaches for the network
    return function


def compare_embedders(messages: list[LoggedMessage], questions: list[tuple[str, str]], models_dir: Path,
                      docs: int) -> None:
    """Each embedder's query latency (one query at a time, warm, this process) and R@5 on the same recall set:
    the messages the questions ask about plus chatter, up to `docs` messages, searched exactly (no index)."""
    answers = {a for _, a in questions}
    corpus = [m for m in messages if m.id in answers]
    corpus += [m for m in messages if m.id not in answers][:max(0, docs - len(corpus))]
    ids = [m.id for m in corpus]
    embedders: dict[str, object] = {name: get_embedder(name, models_dir) for name in EMBEDDERS}
    embedders["chroma-onnx"] = chroma_onnx(models_dir)
    doc_vectors: dict[str, np.ndarray] = {}
    for name, embed in embedders.items():
        embed(["warm up"])  # type: ignore[operator]
        times = []
        for text, _ in questions:
            t0 = time.perf_counter()
            embed([text])  # type: ignore[operator]
            times.append(time.perf_counter() - t0)
        # Chroma's function pads every text to 256 tokens; its vectors equal exact MiniLM's, so its documents are
        # embedded by `onnx` (the same vectors, within 1e-6) to keep this run short.
        source = "onnx" if name == "chroma-onnx" else name
        if source not in doc_vectors:
            doc_vectors[source] = np.stack(embedders[source]([m.text for m in corpus]))  # type: ignore[operator]
        queries = np.stack(embed([q for q, _ in questions]))  # type: ignore[operator]
        top = np.argsort(-(queries @ doc_vectors[source].T), axis=1)[:, :5]
        found = sum(answer in {ids[i] for i in row} for (_, answer), row in zip(questions, top, strict=True))
        print(f"query embedding {name:21}: p50 {percentile(times, 50):6.3f} ms p95 {percentile(times, 95):6.3f} ms"
              f" | R@5 {found / len(questions):.3f} over {len(corpus)} messages (target p50 <= 3 ms, R@5 >= 0.9)")
    print("query embedding fastembed: skipped (it loads only ONNX models, from its hub or a folder; the packaged "
          "MiniLM is safetensors, and on our export it would be the onnxruntime run measured as `onnx`)")


def run_size(size: int, args: argparse.Namespace) -> None:
    """Build a fresh state dir with `size` messages and print one block of results."""
    rng = random.Random(size)
    fill = args.fill or ("real" if args.embedder == "model2vec" else "synthetic")
    real = size if args.real else min(size, args.real_limit)
    messages, questions = make_corpus(size if fill == "real" else real, args.facts, rng)
    messages, bulk = messages[:real], messages[real:]
    questions = questions[:args.queries]
    with tempfile.TemporaryDirectory(prefix="selftune-bench-") as tmp:
        home = Path(tmp)
        if args.models_dir:  # reuse the exported ONNX graphs instead of exporting them into a temp dir
            home.joinpath("models").symlink_to(Path(args.models_dir).resolve(), target_is_directory=True)
        memory = Memory(Settings(home=home, memory=MemoryConfig(embedder=args.embedder)))
        rate = ingest(memory, messages)
        print(f"[{size:>7} msgs] ingest via Memory.log_many (SQLite + {args.embedder} + Chroma), {real} real:"
              f" {rate:8.0f} msg/s")
        if bulk:
            brate = fill_with_real(memory, bulk)
            print(f"[{size:>7} msgs] + {len(bulk)} generated messages embedded by {args.embedder} and added in bulk:"
                  f" {brate:8.0f} msg/s")
        elif size > real:
            vrate = pad_with_synthetic(memory, size, np.random.default_rng(size))
            print(f"[{size:>7} msgs] + {size - real} synthetic vectors (noisy copies of chatter), chroma add: "
                  f"{vrate:8.0f} vec/s")
        for label, filt in (("no filter", False), ("channel filter", True)):
            m = measure(memory, questions, filt, {msg.id: msg.channel for msg in messages + bulk})
            print(f"[{size:>7} msgs] recall k=5, {label:14}: ours p50 {m['ours_p50']:6.1f} ms p95 {m['ours_p95']:6.1f} ms"
                  f" | ours w/ precomputed vector p50 {m['vec_p50']:5.1f} p95 {m['vec_p95']:5.1f}"
                  f" | raw collection.query p50 {m['raw_p50']:5.1f} p95 {m['raw_p95']:5.1f}"
                  f" | overhead p95 ours/raw {m['ours_p95'] / m['raw_p95']:4.2f}x,"
                  f" wrapper-only {m['vec_p95'] / m['raw_p95']:4.2f}x | R@5 {m['r_at_5']:.3f} ({len(questions)} q)")
        if args.compare and size == args.sizes[0]:
            compare_embedders(messages, questions, memory.settings.models_dir, args.compare_docs)
        memory.close()


def main() -> None:
    """Parse options and run each size."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--facts", type=int, default=400, help="Fact messages the questions ask about.")
    parser.add_argument("--real-limit", type=int, default=10_000, help="Embed at most this many messages for real.")
    parser.add_argument("--real", action="store_true", help="Embed every message for real (slow on CPU).")
    parser.add_argument("--embedder", choices=EMBEDDERS, default=MemoryConfig().embedder, help="Backend recall uses.")
    parser.add_argument("--no-compare", dest="compare", action="store_false",
                        help="Skip the side-by-side of every embedding backend (done at the first size).")
    parser.add_argument("--fill", choices=["real", "synthetic"],
                        help="Beyond --real-limit: real generated messages (default with model2vec) or noisy vectors.")
    parser.add_argument("--compare-docs", type=int, default=2000, help="Messages in the side-by-side's recall set.")
    parser.add_argument("--models-dir", default=os.environ.get("SELFTUNE_BENCH_MODELS"),
                        help="A models/ folder holding the exported ONNX graphs (else exported into the temp dir).")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))  # 2 shared cores: more threads only thrash
    began = time.perf_counter()
    for size in args.sizes:
        run_size(size, args)
    print(f"total {time.perf_counter() - began:.0f} s; targets: p95 < 50 ms at 100k, overhead < 1.5x, R@5 >= 0.9,"
          " query embedding p50 <= 3 ms")


if __name__ == "__main__":
    main()
