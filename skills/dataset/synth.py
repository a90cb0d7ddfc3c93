"""Synthetic data through the configured LLM provider: persona answers, QA from documents, multi-turn chats,
reasoning traces and DPO pairs (chosen = persona-faithful, rejected = plain).

Resumable: each finished row is appended (and fsynced) to `<out>.partial` together with its seed key; a
re-run skips seeds already done, so a killed run continues without duplicates. Bounded by rows and seconds.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import orjson
import yaml

from config.errors import UsageError
from skills.dataset.io import write_dataset
from skills.dataset.manifest import Generator, Source

Task = Literal["persona", "qa", "multiturn", "reasoning", "dpo"]
TASKS = ("persona", "qa", "multiturn", "reasoning", "dpo")
PROMPTS: dict[str, str] = yaml.safe_load((Path(__file__).parent / "prompts" / "synth.yaml").read_text(encoding="utf-8"))
SEEDS = Path(__file__).parent / "seeds" / "persona_seed_prompts.jsonl"
QA_PATTERN = re.compile(r"Q:\s*(?P<q>.+?)\s*\nA:\s*(?P<a>.+)", re.S)


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


def document_chunks(paths: list[Path], size: int = 1500) -> list[str]:
    """Documents cut into paragraph-aligned chunks of about `size` characters."""
    chunks: list[str] = []
    for path in paths:
        current = ""
        for para in re.split(r"\n\s*\n", path.read_text(encoding="utf-8", errors="replace")):
            if current and len(current) + len(para) > size:
                chunks.append(current.strip())
                current = ""
            current += para + "\n\n"
        if current.strip():
            chunks.append(current.strip())
    return chunks


class Synthesizer:
    """Turns seeds into rows with one provider; `chat(messages)` returns (text, model)."""

    def __init__(self, provider: Any, *, system_prompt: str = "", max_tokens: int = 256, temperature: float = 0.7):
        self.provider, self.system_prompt = provider, system_prompt
        self.max_tokens, self.temperature, self.model = max_tokens, temperature, ""

    def ask(self, messages: list[dict[str, str]]) -> str:
        result = self.provider.chat(messages, max_tokens=self.max_tokens, temperature=self.temperature)
        self.model = result.model or self.model
        return result.text.strip()

    def persona(self, seed: str) -> dict[str, Any] | None:
        answer = self.ask([{"role": "system", "content": self.system_prompt}, {"role": "user", "content": seed}])
        return {"messages": [{"role": "user", "content": seed}, {"role": "assistant", "content": answer}]} if answer else None

    def dpo(self, seed: str) -> dict[str, Any] | None:
        chosen = self.ask([{"role": "system", "content": self.system_prompt}, {"role": "user", "content": seed}])
        rejected = self.ask([{"role": "system", "content": PROMPTS["plain"].strip()}, {"role": "user", "content": seed}])
        if not chosen or not rejected or chosen == rejected:
            return None
        return {"prompt": [{"role": "user", "content": seed}], "chosen": [{"role": "assistant", "content": chosen}],
                "rejected": [{"role": "assistant", "content": rejected}]}

    def qa(self, document: str) -> dict[str, Any] | None:
        match = QA_PATTERN.search(self.ask([{"role": "user", "content": PROMPTS["qa"].format(document=document)}]))
        if not match or not match["q"].strip() or not match["a"].strip():
            return None
        return {"messages": [{"role": "user", "content": match["q"].strip()},
                             {"role": "assistant", "content": match["a"].strip()}]}

    def reasoning(self, seed: str) -> dict[str, Any] | None:
        trace = self.ask([{"role": "system", "content": PROMPTS["reasoning"].strip()}, {"role": "user", "content": seed}])
        return {"messages": [{"role": "user", "content": seed}, {"role": "assistant", "content": trace}]} if trace else None

    def multiturn(self, seed: str, turns: int = 2) -> dict[str, Any] | None:
        system = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        msgs: list[dict[str, str]] = [{"role": "user", "content": seed}]
        for turn in range(turns):
            answer = self.ask(system + msgs)
            if not answer:
                return None
            msgs.append({"role": "assistant", "content": answer})
            if turn + 1 < turns:
                transcript = "\n".join(f"{m['role']}: {m['content']}" for m in msgs)
                follow = self.ask([{"role": "user", "content": PROMPTS["followup"].format(transcript=transcript)}])
                if not follow:
                    return None
                msgs.append({"role": "user", "content": follow.splitlines()[0]})
        return {"messages": msgs}


def _partial_path(out: Path) -> Path:
    return out.with_name(out.name + ".partial")


def _resume(partial: Path) -> tuple[list[dict[str, Any]], set[str]]:
    """Rows already made by a previous run; a half-written last line (killed mid-write) is cut off."""
    if not partial.exists():
        return [], set()
    data = partial.read_bytes()
    keep = data[: data.rfind(b"\n") + 1]
    if len(keep) != len(data):
        partial.write_bytes(keep)
    records = [orjson.loads(line) for line in keep.splitlines() if line.strip()]
    return [r["row"] for r in records], {r["seed"] for r in records}


def synthesize(
    provider: Any, task: str, items: list[str], out: str | Path, *, system_prompt: str = "", persona: str | None = None,
    max_rows: int = 100, max_seconds: float = 600.0, temperature: float = 0.7, max_tokens: int = 256,
    sources: list[Source] | None = None, progress: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Generate up to max_rows rows from seed questions (or document chunks for qa) into `out` with a manifest."""
    if task not in TASKS:
        raise UsageError(f"Unknown synthesis task '{task}'; use one of {', '.join(TASKS)}.")
    if task in ("persona", "dpo") and not system_prompt:
        raise UsageError(f"The '{task}' task needs a persona (its card's system prompt); pass --persona NAME.")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    synth = Synthesizer(provider, system_prompt=system_prompt, max_tokens=max_tokens, temperature=temperature)
    rows, done = _resume(_partial_path(out))
    resumed, made, skipped = len(rows), 0, 0
    deadline = time.monotonic() + max_seconds
    with _partial_path(out).open("ab") as log:
        for key, item in _pending(items, done):
            if len(rows) >= max_rows or time.monotonic() > deadline:
                break
            row = getattr(synth, task)(item)
            skipped += row is None
            if row is not None:
                rows.append(row)
                made += 1
                log.write(orjson.dumps({"seed": key, "row": row}) + b"\n")
                log.flush()
            if progress:
                progress({"rows": len(rows), "max_rows": max_rows, "skipped": skipped})
    complete = len(rows) >= max_rows or len(done) + made + skipped >= len(set(items))
    return _finish(out, task, rows, synth, persona, temperature, max_tokens, sources or [],
                   {"resumed": resumed, "generated": made, "skipped": skipped, "complete": complete})


def _pending(items: list[str], done: set[str]) -> Iterator[tuple[str, str]]:
    seen: set[str] = set()
    for item in items:
        key = hashlib.sha256(item.encode()).hexdigest()[:16]  # stable across runs, unlike hash()
        if key not in done and key not in seen:
            seen.add(key)
            yield key, item


def _finish(out: Path, task: str, rows: list, synth: Synthesizer, persona: str | None, temperature: float,
            max_tokens: int, sources: list[Source], counts: dict[str, Any]) -> dict[str, Any]:
    prompt = synth.system_prompt if task in ("persona", "dpo") else ""
    template = "\n---\n".join(p for p in (prompt, PROMPTS.get(task, ""), PROMPTS["plain"] if task == "dpo" else "") if p)
    generator = Generator(model=synth.model or "unknown", task=task, prompt=template, persona=persona,
                          temperature=temperature, params={"max_tokens": max_tokens})
    manifest = write_dataset(rows, out, fmt="dpo" if task == "dpo" else "messages",
                             sources=[*sources, Source(kind="generator", note=f"synth {task}")], generator=generator)
    if counts["complete"]:
        _partial_path(out).unlink(missing_ok=True)
    return {"path": manifest.path, "rows": manifest.rows, "sha256": manifest.sha256, "model": generator.model,
            "task": task, **counts}


def run_synth(
    settings: Any, task: str, output: Path, *, persona: str | None = None, seeds: Path | None = None,
    documents: list[Path] | None = None, max_rows: int = 50, max_seconds: float = 600.0,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """synthesize() with the configured provider, a persona card from the workspace and default seeds."""
    from config.workspace import open_workspace
    from skills.personas import load_persona
    from skills.providers import get_provider

    system_prompt = load_persona(open_workspace(settings).path, persona).system_prompt if persona else ""
    if task == "qa":
        if not documents:
            raise UsageError("The 'qa' task needs documents; pass --document FILE (one or more).")
        items, sources = document_chunks(documents), [Source(kind="file", path=str(d)) for d in documents]
    else:
        seed_file = seeds or SEEDS
        items, sources = load_seeds(seed_file), [Source(kind="file", path=str(seed_file), note="seed prompts")]
    if _local_model_on_worker(settings):  # the GPU box loads the model and writes the rows; they come back here
        from skills.jobs.heavy import synth_on_executor

        return synth_on_executor(settings, task, items, output, system_prompt=system_prompt, persona=persona,
                                 max_rows=max_rows, max_seconds=max_seconds, max_tokens=settings.llm.max_new_tokens,
                                 sources=[s.model_dump(mode="json") for s in sources])
    return synthesize(get_provider(settings), task, items, output, system_prompt=system_prompt, persona=persona,
                      max_rows=max_rows, max_seconds=max_seconds, max_tokens=settings.llm.max_new_tokens,
                      sources=sources, progress=progress)


def _local_model_on_worker(settings: Any) -> bool:
    """With the local provider and `executor.kind = "ray"` the rows are made by a job on the GPU box."""
    from skills.jobs.heavy import model_work_on_worker

    return settings.llm.provider == "local" and model_work_on_worker(settings)
