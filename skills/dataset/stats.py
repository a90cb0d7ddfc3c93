"""`dataset stats`: rows, turns, roles, duplicates and token lengths through a tokenizer's chat template."""

from __future__ import annotations

import contextlib
import shutil
import statistics
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from skills.dataset.dedup import duplicate_groups, row_text
from skills.dataset.io import format_of, iter_canonical


def _summary(values: list[int]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731 - nearest-rank quantile
    return {"min": ordered[0], "mean": round(statistics.fmean(ordered), 1), "p50": pick(0.5), "p95": pick(0.95),
            "max": ordered[-1], "total": sum(ordered)}


def _conversation(row: dict[str, Any]) -> list[dict[str, Any]]:
    """The messages a model trains on (DPO: prompt + chosen)."""
    return row["messages"] if "messages" in row else row["prompt"] + row["chosen"]


def dataset_stats(path: str | Path, *, fmt: str = "auto", tokenizer: Any = None, near: bool = True) -> dict[str, Any]:
    """Counts, turn and token-length summaries, and duplicates of a dataset file."""
    roles: Counter[str] = Counter()
    turns, chars, tokens, texts = [], [], [], []
    kind = None
    for row in iter_canonical(path, fmt):
        kind = kind or format_of(row)
        if "text" in row:  # a plain-text document: no turns, its characters and tokens count
            chars.append(len(row["text"]))
            texts.append(row["text"])
            tokens += [len(tokenizer(row["text"])["input_ids"])] if tokenizer is not None else []
            continue
        msgs = _conversation(row)
        roles.update(m["role"] for m in msgs)
        turns.append(sum(m["role"] in ("user", "assistant") for m in msgs))
        chars.append(sum(len(m["content"]) for m in msgs))
        texts.append(row_text(row))
        if tokenizer is not None:
            tokens.append(token_length(tokenizer, msgs, row.get("tools")))
    owners = duplicate_groups(texts, near=near) if texts else []
    exact = len(texts) - len({hash(t) for t in texts})
    return {
        "path": str(path), "format": kind, "rows": len(texts), "turns": _summary(turns), "chars": _summary(chars),
        "tokens": _summary(tokens) if tokenizer is not None else None, "roles": dict(roles),
        "duplicates": {"exact": exact, "near": sum(o != i for i, o in enumerate(owners)) - exact},
    }


def token_length(tokenizer: Any, msgs: list[dict[str, Any]], tools: list | None = None) -> int:
    """Tokens of one conversation rendered with the tokenizer's chat template."""
    ids = tokenizer.apply_chat_template(msgs, tools=tools, tokenize=True)
    if isinstance(ids, dict) or hasattr(ids, "keys"):
        ids = ids["input_ids"]
    return len(ids)


def load_tokenizer(base_model: str, models_dir: Path) -> Any:
    """The tokenizer (with chat template) of a base model name or folder; never the model's weights."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tokenizer_folder(base_model, models_dir))


def tokenizer_folder(base_model: str, models_dir: Path) -> Path:
    """A folder holding the base model's tokenizer: the converted model when it exists, else SmolLM2's tokenizer alone.

    Converting SmolLM2 from its GGUF builds the whole model (~20 s); counting tokens needs only the tokenizer,
    which the GGUF's metadata gives in about a second.
    """
    from skills.models import SMOLLM2_DIR, resolve_base_model

    if base_model == "smollm2" and not (models_dir / SMOLLM2_DIR / "config.json").is_file():
        dest = models_dir / f"{SMOLLM2_DIR}-tokenizer"
        if not (dest / "tokenizer_config.json").is_file():
            _build_atomically(dest, _smollm2_tokenizer)
        return dest
    return resolve_base_model(base_model, models_dir)


def _smollm2_tokenizer(out: Path) -> None:
    """Write SmolLM2's tokenizer (from the packaged GGUF) with the same ChatML template training uses."""
    from transformers import AutoTokenizer

    from skills.models import CHATML_TEMPLATE, smollm2_gguf_path

    gguf = smollm2_gguf_path()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    tokenizer.chat_template = CHATML_TEMPLATE
    tokenizer.save_pretrained(out)


def _build_atomically(dest: Path, build: Any) -> None:
    """Build into a temp sibling, then rename, so a half-written tokenizer folder is never used."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        build(tmp)
        with contextlib.suppress(OSError):  # another process finished first: its folder is as good
            tmp.rename(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
