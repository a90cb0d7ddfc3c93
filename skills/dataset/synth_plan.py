"""What a synthesis run works through: seed prompts or rows, topics x perspectives, weighted documents, source
chunks. Each item is a str or a small dict; its hash is the resume key, so items must not change between runs.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from config.errors import UsageError
from skills.dataset.formats import detect_format

DOCUMENT_KINDS = ("an explainer", "a how-to guide", "a short essay", "an overview with examples",
                  "a question-and-answer style article")
_LIST_MARK = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)]|[a-z][.)])\s*")


def load_seeds(path: Path) -> list[str]:
    """User questions from a seeds file: JSONL {"prompt"} rows, a dataset's first user turns, or plain lines."""
    out: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            out.append(line.strip())
            continue
        if isinstance(row, dict) and isinstance(row.get("prompt"), str):
            out.append(row["prompt"])
        elif isinstance(row, dict) and isinstance(row.get("messages"), list):
            out.extend(m["content"] for m in row["messages"][:2] if m.get("role") == "user")
    return out


def is_conversation_file(path: Path) -> bool:
    """True when the file's first row is a conversation (messages, ShareGPT or alpaca), not a list of prompts."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            try:
                return detect_format(json.loads(line)) in ("messages", "sharegpt", "alpaca")
            except ValueError:
                return False
    return False


def load_conversations(path: Path) -> list[dict[str, Any]]:
    """The chat rows of a dataset (to extend by more turns), canonical messages only."""
    from skills.dataset.io import iter_canonical

    rows = [{"messages": row["messages"]} for row in iter_canonical(path) if "messages" in row and "label" not in row]
    if not rows:
        raise UsageError(f"{path} holds no chat rows to extend; give a dataset of conversations or of prompts.")
    return rows


def text_chunks(text: str, size: int = 1500) -> list[str]:
    """A text cut into paragraph-aligned chunks of about `size` characters."""
    chunks: list[str] = []
    current = ""
    for para in re.split(r"\n\s*\n", text):
        if current and len(current) + len(para) > size:
            chunks.append(current.strip())
            current = ""
        current += para + "\n\n"
    if current.strip():
        chunks.append(current.strip())
    return chunks


def document_chunks(paths: list[Path], size: int = 1500) -> list[str]:
    """Documents cut into paragraph-aligned chunks of about `size` characters."""
    return [chunk for path in paths for chunk in text_chunks(path.read_text(encoding="utf-8", errors="replace"), size)]


def parse_topics(specs: list[str]) -> list[tuple[str, float]]:
    """'name' or 'name:weight' topics (weight 1 when not given), refused in one sentence when malformed."""
    topics: list[tuple[str, float]] = []
    for spec in specs:
        name, _, weight = spec.rpartition(":") if re.search(r":\s*[\d.]+\s*$", spec) else (spec, "", "1")
        try:
            value = float(weight)
        except ValueError:
            value = -1.0
        if not name.strip() or not math.isfinite(value) or value <= 0:
            raise UsageError(f"Topic '{spec}' is not 'name' or 'name:weight' with a positive weight.")
        topics.append((name.strip(), value))
    if not topics:
        raise UsageError("This task needs topics; pass --topic NAME (repeatable, NAME:WEIGHT for documents).")
    return topics


def allocate(weights: list[float], total: int) -> list[int]:
    """`total` split in proportion to weights (largest remainders get the leftovers): the documents per topic."""
    shares = [w / sum(weights) * total for w in weights]
    counts = [math.floor(s) for s in shares]
    by_remainder = sorted(range(len(shares)), key=lambda i: shares[i] - counts[i], reverse=True)
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts


def document_items(topics: list[tuple[str, float]], total: int) -> list[dict[str, Any]]:
    """One item per document to write, topics in proportion to their weights, interleaved so a cut run is balanced."""
    per_topic = allocate([w for _, w in topics], total)
    items = [{"topic": name, "number": n + 1, "kind": DOCUMENT_KINDS[n % len(DOCUMENT_KINDS)]}
             for (name, _), count in zip(topics, per_topic, strict=True) for n in range(count)]
    return sorted(items, key=lambda item: item["number"])


def topic_items(topics: list[str], perspectives: list[str]) -> list[dict[str, str]]:
    """Every topic with every perspective: the questions of a topics run."""
    return [{"topic": topic, "perspective": perspective} for topic in topics for perspective in perspectives]


def parse_list(text: str, limit: int) -> list[str]:
    """Up to `limit` distinct entries of a model's one-per-line list (numbering, bullets and quotes removed)."""
    out: list[str] = []
    for line in text.splitlines():
        entry = _LIST_MARK.sub("", line).strip().strip("\"'*").rstrip(".").strip()
        if entry.endswith(":"):
            continue  # a lead-in such as "Here are three perspectives:"
        if entry and entry.lower() not in (e.lower() for e in out) and len(entry) <= 200:
            out.append(entry)
    return out[:limit]
