"""General replay: the base model's own answers to general prompts, mixed into a persona tune's training rows.

A persona tune teaches a voice on a few dozen rows; mixing back some of what the base model already says to
general requests (train.replay_general_share of the final training rows) is the guides' cheap guard against
forgetting. Answers are generated here, in the training worker (the GPU box under executor.kind = "ray"; the bot
host never loads weights), greedily, once per base model and prompt set: they are cached under
<models>/replay/<key>/rows.jsonl with a dataset manifest (generator = the base model, task = replay), and a
later tune only answers the prompts it needs beyond those already cached. Replay rows carry no system prompt
(the base answered without one), so they never teach "answer plainly under the persona's prompt"; they go into
the training split only, never the held-out one.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAX_NEW_TOKENS = 96  # bounded answers: replay is a reminder of the style and knowledge, not long essays
BATCH = 16
REPLAY_METHODS = ("lora", "qlora", "full")


@dataclass(frozen=True)
class Replay:
    """What a tune mixed in: rows, the share asked for and reached, and the cache they came from."""

    rows: int
    share: float
    share_asked: float
    cache_key: str
    cache: Path

    def record(self) -> dict[str, Any]:
        """The adapter manifest's `replay` entry."""
        return {"rows": self.rows, "share": round(self.share, 4), "share_asked": self.share_asked,
                "cache_key": self.cache_key, "cache": str(self.cache), "task": "replay"}


def replay_count(persona_rows: int, share: float, available: int | None = None) -> int:
    """Replay rows that make `share` of the final training rows: r / (n + r) = share, rounded, capped by what
    the prompt set holds."""
    if share <= 0 or persona_rows <= 0:
        return 0
    wanted = round(share * persona_rows / (1 - share))
    return min(wanted, available) if available is not None else wanted


def mix(train_rows: list[dict[str, Any]], replay_rows: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    """Training rows with the replay rows spread among them (seeded, the same order on a resumed job)."""
    mixed = [*train_rows, *replay_rows]
    random.Random(seed).shuffle(mixed)
    return mixed


def applies(spec: Any, rows: list[dict[str, Any]]) -> bool:
    """Replay is for persona SFT on chat rows (not DPO/KTO, not plain-text documents, not a persona-less tune)."""
    from skills.train.data import is_text_rows

    return bool(spec.replay_general_share > 0 and spec.persona and spec.method in REPLAY_METHODS
                and not is_text_rows(rows))


def cache_key(base_model: str, prompts_sha: str) -> str:
    """Folder name of one base model's answers to one prompt set (and answer length)."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", base_model).strip("-.")[:48] or "model"
    digest = hashlib.sha256(f"{base_model}\n{prompts_sha}\n{MAX_NEW_TOKENS}".encode()).hexdigest()[:12]
    return f"{slug}-{digest}"


def replay_rows(spec: Any, model_dir: Path, models_dir: Path, wanted: int, emit: Any = None,
                device: str = "cpu") -> tuple[list[dict], str, Path]:
    """The first `wanted` replay rows for the spec's base model (answering and caching any not cached yet)."""
    from skills.dataset.general_prompts import general_prompts, prompt_set_sha256

    prompts = general_prompts()[:wanted]
    key = cache_key(spec.base_model, prompt_set_sha256())
    path = models_dir / "replay" / key / "rows.jsonl"
    rows = _read(path)
    if len(rows) < len(prompts):
        if emit is not None:
            emit(f"replay: the base model answers {len(prompts) - len(rows)} general prompts (cached for later tunes)")
        rows = rows + answer(model_dir, prompts[len(rows):], device)
        _write(path, rows, spec.base_model)
    return rows[:wanted], key, path


def answer(model_dir: Path, prompts: list[str], device: str = "cpu") -> list[dict[str, Any]]:
    """The base model's greedy answers as canonical message rows (no system turn), on the training device
    (bf16 on CUDA; on CPU fp32 weights, which generate_batch copies to bf16 where the CPU computes it natively)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from skills.evaluate.generate import generate_batch

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype).to(device)
    model.eval()
    out: list[dict[str, Any]] = []
    for start in range(0, len(prompts), BATCH):
        batch = prompts[start:start + BATCH]
        replies = generate_batch(model, tokenizer, [[{"role": "user", "content": p}] for p in batch],
                                 max_new_tokens=MAX_NEW_TOKENS)
        out.extend({"messages": [{"role": "user", "content": p}, {"role": "assistant", "content": r}]}
                   for p, r in zip(batch, replies, strict=True))
    return out


def _read(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _write(path: Path, rows: list[dict[str, Any]], base_model: str) -> None:
    """Rows and their manifest, each replaced atomically (a crashed worker leaves the older cache whole)."""
    from skills.dataset.general_prompts import prompt_set_sha256
    from skills.dataset.manifest import Generator, Manifest, Source, file_sha256, write_manifest

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    os.replace(tmp, path)
    generator = Generator(model=base_model, task="replay", prompt="the general prompt as the only user turn",
                          params={"max_new_tokens": MAX_NEW_TOKENS, "greedy": True,
                                  "prompt_set_sha256": prompt_set_sha256()})
    source = Source(kind="generator", note="skills.dataset.general_prompts, answered by the base model", rows=len(rows))
    write_manifest(Manifest(path=str(path), sha256=file_sha256(path), format="messages", rows=len(rows),
                            sources=[source], generator=generator), path)


def add_replay(spec: Any, rows: list[dict[str, Any]], model_dir: Path, models_dir: Path,
               emit: Any = None, device: str = "cpu") -> tuple[list[dict[str, Any]], Replay | None]:
    """The training rows with replay mixed in at the spec's share (unchanged when replay does not apply)."""
    from skills.dataset.general_prompts import general_prompts

    if not applies(spec, rows):
        return rows, None
    wanted = replay_count(len(rows), spec.replay_general_share, len(general_prompts()))
    if wanted == 0:
        return rows, None
    extra, key, path = replay_rows(spec, model_dir, models_dir, wanted, emit, device)
    reached = len(extra) / (len(rows) + len(extra))
    return mix(rows, extra, spec.seed), Replay(len(extra), reached, spec.replay_general_share, key, path)
