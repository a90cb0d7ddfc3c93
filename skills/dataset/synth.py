"""Synthetic data through the configured LLM provider (the toolbox of the fine-tuning guides):

- persona: the persona's answer to each seed prompt; `best_of` n answers scored 1-5 by the judge, the best kept
  (or, with `pairs`, the best and the worst as a DPO pair)
- dpo: chosen = persona-faithful, rejected = plain
- topics: one question per topic x perspective (perspectives generated when not given), then its answer
- multiturn: each existing row (or seed prompt, once answered) extended by `turns` more user/assistant turns
- reasoning: `<think>` reasoning in a neutral voice, then the answer (in the persona's voice when one is given)
- documents: plain-text documents over weighted topics (format `text`, for continued pre-training)
- qa: one question/answer per chunk of a file or fetched page, the answer citing its source

Resumable: each finished row is appended (and fsynced) to `<out>.partial` together with its item key (and a
run's plan, e.g. generated perspectives, as its first record); a re-run skips items already done, so a killed
run continues without duplicates. Bounded by rows and seconds. Near duplicates are dropped from the output and
counted in the manifest, which also records the model, prompts, plan and judge scores.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson
import yaml

from config.errors import UsageError
from skills.dataset.dedup import conversation_text, unique_indexes
from skills.dataset.io import write_dataset
from skills.dataset.manifest import Generator, Source
from skills.dataset.score import RUBRIC, ScoreGate, Scorer, score_gate
from skills.dataset.synth_plan import document_chunks, load_seeds, parse_list  # noqa: F401 - re-exported

Task = Literal["persona", "qa", "multiturn", "reasoning", "dpo", "topics", "documents"]
TASKS = ("persona", "qa", "multiturn", "reasoning", "dpo", "topics", "documents")
PROMPTS: dict[str, str] = yaml.safe_load((Path(__file__).parent / "prompts" / "synth.yaml").read_text(encoding="utf-8"))
SEEDS = Path(__file__).parent / "seeds" / "persona_seed_prompts.jsonl"
QA_PATTERN = re.compile(r"Q:\s*(?P<q>.+?)\s*\nA:\s*(?P<a>.+)", re.S)
THINK = re.compile(r"<think>(.*?)</think>", re.S)
MAX_BEST_OF = 8
MAX_TURNS = 16


@dataclass(frozen=True)
class Options:
    """Per-task knobs: turns added by multiturn, answers per prompt (best-of) and whether to keep them as pairs."""

    turns: int = 2
    best_of: int = 1
    pairs: bool = False


def _without_think(text: str) -> str:
    """A model's answer without any <think> block it wrote on its own (reasoning models do)."""
    return THINK.sub("", text).replace("<think>", "").replace("</think>", "").strip()


def _first_line(text: str) -> str:
    line = next((ln for ln in text.splitlines() if ln.strip()), "")
    return re.sub(r"^(?:question|q)\s*:\s*", "", line.strip(), flags=re.I).strip().strip("\"'")


class Synthesizer:
    """Turns items into rows with one provider; `chat(messages)` returns (text, model). `note` holds the last
    row's judge scores, which the manifest keeps."""

    def __init__(self, provider: Any, *, system_prompt: str = "", max_tokens: int = 256, temperature: float = 0.7,
                 options: Options | None = None, judge: Any = None):
        self.provider, self.system_prompt, self.judge = provider, system_prompt, judge
        self.max_tokens, self.temperature, self.model = max_tokens, temperature, ""
        self.options = options or Options()
        self.note: dict[str, Any] | None = None

    def ask(self, messages: list[dict[str, str]]) -> str:
        result = self.provider.chat(messages, max_tokens=self.max_tokens, temperature=self.temperature)
        self.model = result.model or self.model
        return result.text.strip()

    def answer(self, question: str, system: str | None = None) -> str:
        """The answer to one question under `system` (default: the persona's prompt, else the plain one)."""
        system = system or self.system_prompt or PROMPTS["plain"].strip()
        return _without_think(self.ask([{"role": "system", "content": system}, {"role": "user", "content": question}]))

    def persona(self, seed: str) -> dict[str, Any] | None:
        if self.options.best_of > 1:
            return self._best_of(seed)
        answer = self.answer(seed)
        return _chat(seed, answer) if answer else None

    def _best_of(self, seed: str) -> dict[str, Any] | None:
        """n answers, each scored by the judge; the best kept, or best and worst as a preference pair."""
        answers = list(dict.fromkeys(a for a in (self.answer(seed) for _ in range(self.options.best_of)) if a))
        if not answers:
            return None
        scorer = Scorer(self.judge, _model_of(self.judge), self.system_prompt or None)  # the dataset-score rubric
        scores = [scorer.rate(_chat(seed, a)).score for a in answers]
        self.note = {"scores": scores}
        ranked = sorted(range(len(answers)), key=lambda i: -(scores[i] or 0))  # stable: ties keep the first
        best, worst = ranked[0], ranked[-1]
        if not self.options.pairs:
            return _chat(seed, answers[best])
        if (scores[best] or 0) <= (scores[worst] or 0):
            return None  # no preference to learn from two answers the judge rates the same
        return {"prompt": [{"role": "user", "content": seed}], "chosen": [{"role": "assistant", "content": answers[best]}],
                "rejected": [{"role": "assistant", "content": answers[worst]}]}

    def dpo(self, seed: str) -> dict[str, Any] | None:
        chosen = self.answer(seed)
        rejected = self.answer(seed, PROMPTS["plain"].strip())
        if not chosen or not rejected or chosen == rejected:
            return None
        return {"prompt": [{"role": "user", "content": seed}], "chosen": [{"role": "assistant", "content": chosen}],
                "rejected": [{"role": "assistant", "content": rejected}]}

    def qa(self, chunk: dict[str, str]) -> dict[str, Any] | None:
        """One question about a chunk and its answer, which ends by citing where the chunk came from."""
        reply = _without_think(self.ask([{"role": "user", "content": PROMPTS["qa"].format(document=chunk["text"])}]))
        match = QA_PATTERN.search(reply)
        if not match or not match["q"].strip() or not match["a"].strip():
            return None
        return _chat(match["q"].strip(), f"{match['a'].strip()}\n\nSource: {chunk['source']}")

    def reasoning(self, seed: str) -> dict[str, Any] | None:
        """Neutral step-by-step reasoning in a <think> block, then the answer; only the answer speaks as the persona."""
        thought = _without_think(self.ask([{"role": "system", "content": PROMPTS["reasoning"].strip()},
                                           {"role": "user", "content": seed}]))
        if not thought:
            return None
        system = PROMPTS["reasoned_answer"].format(system_prompt=self.system_prompt or PROMPTS["plain"].strip(),
                                                   reasoning=thought).strip()
        answer = self.answer(seed, system)
        return _chat(seed, f"<think>\n{thought}\n</think>\n\n{answer}") if answer else None

    def multiturn(self, item: str | dict[str, Any]) -> dict[str, Any] | None:
        """The row (a seed prompt becomes a row once answered) with `turns` more user/assistant turns appended."""
        msgs = [dict(m) for m in item["messages"]] if isinstance(item, dict) else [{"role": "user", "content": item}]
        own_system = bool(msgs) and msgs[0]["role"] == "system"
        system = [] if own_system or not self.system_prompt else [{"role": "system", "content": self.system_prompt}]
        if msgs[-1]["role"] != "assistant" and not self._reply(system, msgs):
            return None
        for _ in range(self.options.turns):
            transcript = "\n".join(f"{m['role']}: {m['content']}" for m in msgs if m["role"] in ("user", "assistant"))
            follow = _first_line(_without_think(self.ask(
                [{"role": "user", "content": PROMPTS["followup"].format(transcript=transcript)}])))
            if not follow:
                return None
            msgs.append({"role": "user", "content": follow})
            if not self._reply(system, msgs):
                return None
        return {"messages": msgs}

    def _reply(self, system: list[dict[str, str]], msgs: list[dict[str, str]]) -> bool:
        answer = _without_think(self.ask(system + msgs))
        if answer:
            msgs.append({"role": "assistant", "content": answer})
        return bool(answer)

    def topics(self, item: dict[str, str]) -> dict[str, Any] | None:
        """A question on the topic as the perspective would ask it, answered (as the persona when one is given)."""
        question = _first_line(_without_think(self.ask([{"role": "user", "content": PROMPTS["topic_question"].format(**item)}])))
        answer = self.answer(question) if question else ""
        return _chat(question, answer) if answer else None

    def documents(self, item: dict[str, Any]) -> dict[str, Any] | None:
        text = _without_think(self.ask([{"role": "user", "content": PROMPTS["document"].format(**item)}]))
        return {"text": text} if text else None

    def perspectives(self, topics: list[str], count: int) -> list[str]:
        """`count` perspectives for the topics, asked of the model once per run."""
        reply = self.ask([{"role": "user", "content": PROMPTS["perspectives"].format(count=count, topics=", ".join(topics))}])
        found = parse_list(_without_think(reply), count)
        if not found:
            raise UsageError("The model suggested no perspectives; pass them with --perspective NAME (repeatable).")
        return found


def _chat(question: str, answer: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]}


def partial_path(out: Path) -> Path:
    """Where a run keeps its finished rows until it completes."""
    return out.with_name(out.name + ".partial")


def _records(partial: Path) -> list[dict[str, Any]]:
    """The records of a previous run; a half-written last line (killed mid-write) is cut off."""
    if not partial.exists():
        return []
    data = partial.read_bytes()
    keep = data[: data.rfind(b"\n") + 1]
    if len(keep) != len(data):
        partial.write_bytes(keep)
    return [orjson.loads(line) for line in keep.splitlines() if line.strip()]


def saved_plan(out: Path) -> dict[str, Any] | None:
    """The plan (e.g. generated perspectives) an unfinished run of `out` wrote, so a resumed run uses the same."""
    return next((r["plan"] for r in _records(partial_path(out)) if "plan" in r), None)


def save_plan(out: Path, plan: dict[str, Any]) -> None:
    """Record a run's plan as the first record of its partial file."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with partial_path(out).open("ab") as log:
        log.write(orjson.dumps({"plan": plan}) + b"\n")


def item_key(item: str | dict[str, Any]) -> str:
    """A stable key of an item across runs (unlike hash())."""
    data = item.encode() if isinstance(item, str) else orjson.dumps(item, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(data).hexdigest()[:16]


def synthesize(
    provider: Any, task: str, items: list[Any], out: str | Path, *, system_prompt: str = "", persona: str | None = None,
    max_rows: int = 100, max_seconds: float = 600.0, temperature: float = 0.7, max_tokens: int = 256,
    sources: list[Source] | None = None, progress: Callable[[dict[str, Any]], None] | None = None,
    options: Options | None = None, judge: Any = None, plan: dict[str, Any] | None = None,
    gate: ScoreGate | None = None,
) -> dict[str, Any]:
    """Generate up to max_rows rows from the items (seed prompts, rows, topic pairs, chunks) into `out` with a
    manifest; with a `gate`, only rows the judge scores at least its min_score are written."""
    options = options or Options()
    _check_task(task, system_prompt, options, judge)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    synth = Synthesizer(provider, system_prompt=system_prompt, max_tokens=max_tokens, temperature=temperature,
                        options=options, judge=judge)
    records = [r for r in _records(partial_path(out)) if "seed" in r]
    rows, notes, done = [r["row"] for r in records], [r.get("note") for r in records], {r["seed"] for r in records}
    resumed, made, skipped = len(rows), 0, 0
    deadline = time.monotonic() + max_seconds
    with partial_path(out).open("ab") as log:
        for key, item in _pending(items, done):
            if len(rows) >= max_rows or time.monotonic() > deadline:
                break
            synth.note = {"item": item} if task in ("topics", "documents") else None  # which topic made the row
            row = getattr(synth, task)(item)
            skipped += row is None
            if row is not None:
                rows.append(row)
                notes.append(synth.note)
                made += 1
                log.write(orjson.dumps({"seed": key, "row": row, "note": synth.note}) + b"\n")
                log.flush()
            if progress:
                progress({"rows": len(rows), "max_rows": max_rows, "skipped": skipped})
    complete = len(rows) >= max_rows or len(done) + made + skipped >= len({item_key(i) for i in items})
    return _finish(out, task, rows, notes, synth, persona, temperature, sources or [], plan or {},
                   {"resumed": resumed, "generated": made, "skipped": skipped, "complete": complete}, gate)


def _check_task(task: str, system_prompt: str, options: Options, judge: Any) -> None:
    if task not in TASKS:
        raise UsageError(f"Unknown synthesis task '{task}'; use one of {', '.join(TASKS)}.")
    if task in ("persona", "dpo") and not system_prompt:
        raise UsageError(f"The '{task}' task needs a persona (its card's system prompt); pass --persona NAME.")
    if not 1 <= options.best_of <= MAX_BEST_OF:
        raise UsageError(f"--best-of must be between 1 and {MAX_BEST_OF}, not {options.best_of}.")
    if options.best_of > 1 and (task != "persona" or judge is None):
        raise UsageError("--best-of scores answers with the judge and works with the 'persona' task only.")
    if options.pairs and options.best_of < 2:
        raise UsageError("--pairs keeps the best and the worst of several answers; add --best-of 2 (or more).")
    if not 1 <= options.turns <= MAX_TURNS:
        raise UsageError(f"--turns must be between 1 and {MAX_TURNS}, not {options.turns}.")


def _pending(items: list[Any], done: set[str]) -> Iterator[tuple[str, Any]]:
    seen: set[str] = set()
    for item in items:
        key = item_key(item)
        if key not in done and key not in seen:
            seen.add(key)
            yield key, item


def _output_format(task: str, options: Options) -> str:
    if task == "documents":
        return "text"
    return "dpo" if task == "dpo" or (task == "persona" and options.pairs) else "messages"


def _finish(out: Path, task: str, rows: list, notes: list, synth: Synthesizer, persona: str | None,
            temperature: float, sources: list[Source], plan: dict[str, Any], counts: dict[str, Any],
            gate: ScoreGate | None = None) -> dict[str, Any]:
    unique = unique_indexes(rows, key=conversation_text)  # similar questions often get alike answers
    kept, scored = gate.keep([rows[i] for i in unique]) if gate else (list(range(len(unique))), {})
    keep = [unique[i] for i in kept]
    removed, low = len(rows) - len(unique), len(unique) - len(kept)
    rows, notes = [rows[i] for i in keep], [notes[i] for i in keep]
    options = synth.options
    prompt = synth.system_prompt if task in ("persona", "dpo", "reasoning", "topics", "multiturn") else ""
    parts = {"reasoning": ("reasoning", "reasoned_answer"), "topics": ("topic_question",),
             "documents": ("document",), "multiturn": ("followup",), "qa": ("qa",), "dpo": ("plain",)}
    template = "\n---\n".join([p for p in (prompt, *(PROMPTS[k] for k in parts.get(task, ()))) if p]
                              + ([RUBRIC] if options.best_of > 1 else []))
    params: dict[str, Any] = {"max_tokens": synth.max_tokens, **plan}
    if task == "multiturn":
        params["turns"] = options.turns
    if task in ("topics", "documents"):
        params["row_items"] = [(note or {}).get("item") for note in notes]
    if options.best_of > 1:
        params.update(best_of=options.best_of, pairs=options.pairs, judge=_model_of(synth.judge),
                      scores=[(note or {}).get("scores") for note in notes])
    generator = Generator(model=synth.model or "unknown", task=task, prompt=template, persona=persona,
                          temperature=temperature, params=params)
    manifest = write_dataset(rows, out, fmt=_output_format(task, options),
                             sources=[*sources, Source(kind="generator", note=f"synth {task}")], generator=generator,
                             duplicates_removed=removed, **scored)
    if counts["complete"]:
        partial_path(out).unlink(missing_ok=True)
    return {"path": manifest.path, "rows": manifest.rows, "sha256": manifest.sha256, "model": generator.model,
            "task": task, "format": manifest.format, "duplicates_removed": removed, "low_score": low,
            "judge": scored.get("judge"), **counts}


def _model_of(judge: Any) -> str:
    return str(getattr(judge, "model", None) or getattr(judge, "name", None) or "unknown")


@dataclass(frozen=True)
class Inputs:
    """Where a run's items come from: seed prompts or rows, topics (and perspectives), sources (files or URLs)."""

    seeds: Path | None = None
    documents: list[Path] | None = None
    sources: list[str] | None = None
    topics: list[str] | None = None
    perspectives: list[str] | None = None
    perspective_count: int = 3


def run_synth(
    settings: Any, task: str, output: Path, *, persona: str | None = None, seeds: Path | None = None,
    documents: list[Path] | None = None, max_rows: int = 50, max_seconds: float = 600.0,
    progress: Callable[[dict[str, Any]], None] | None = None, options: Options | None = None,
    inputs: Inputs | None = None, min_score: float | None = None,
) -> dict[str, Any]:
    """synthesize() with the configured provider (and judge for best-of), a persona card and default seeds; with
    `min_score`, the configured judge scores the rows and only those scoring at least that are kept."""
    from config.workspace import open_workspace
    from skills.personas import load_persona
    from skills.providers import get_provider

    options = options or Options()
    inputs = inputs or Inputs(seeds=seeds, documents=documents)
    system_prompt = load_persona(open_workspace(settings).path, persona).system_prompt if persona else ""
    _check_task(task, system_prompt, options, judge=object())  # refuse bad options before any model is built
    if _local_model_on_worker(settings):  # the GPU box loads the model and writes the rows; they come back here
        return _synth_on_worker(settings, task, Path(output), inputs, options, system_prompt, persona, max_rows,
                                max_seconds, min_score)
    provider = get_provider(settings)
    judge = get_provider(settings, role="judge") if options.best_of > 1 else None
    synth = Synthesizer(provider, system_prompt=system_prompt, max_tokens=settings.llm.max_new_tokens, temperature=0.7)
    items, sources, plan = _items(settings, task, Path(output), inputs, synth, max_rows)
    return synthesize(provider, task, items, output, system_prompt=system_prompt, persona=persona,
                      max_rows=max_rows, max_seconds=max_seconds, max_tokens=settings.llm.max_new_tokens,
                      sources=sources, progress=progress, options=options, judge=judge, plan=plan,
                      gate=score_gate(settings, min_score, persona))


def _items(settings: Any, task: str, out: Path, inputs: Inputs, synth: Synthesizer | None,
           max_rows: int) -> tuple[list[Any], list[Source], dict[str, Any]]:
    """The run's items, the sources the manifest names, and its plan (topics, perspectives, weights)."""
    from skills.dataset import synth_plan as plan_

    if task == "qa":
        return (*_source_chunks(settings, [*(map(str, inputs.documents or [])), *(inputs.sources or [])]), {})
    if task in ("topics", "documents"):
        topics = plan_.parse_topics(inputs.topics or [])
        if task == "documents":
            return plan_.document_items(topics, max_rows), [], {"topics": dict(topics)}
        names = [name for name, _ in topics]
        plan = saved_plan(out) or {"topics": names, "perspectives": inputs.perspectives or
                                   synth.perspectives(names, inputs.perspective_count),
                                   "perspectives_generated": not inputs.perspectives}
        if saved_plan(out) is None:
            save_plan(out, plan)
        return plan_.topic_items(plan["topics"], plan["perspectives"]), [], plan
    seed_file = inputs.seeds or SEEDS
    source = [Source(kind="file", path=str(seed_file), note="seed rows" if task == "multiturn" else "seed prompts")]
    if task == "multiturn" and plan_.is_conversation_file(seed_file):
        return plan_.load_conversations(seed_file), source, {}
    return load_seeds(seed_file), source, {}


def _source_chunks(settings: Any, sources: list[str]) -> tuple[list[dict[str, str]], list[Source]]:
    """Chunks of each source file or fetched page, each with the label its answers cite."""
    from skills.dataset.fetch import fetch_text, is_url
    from skills.dataset.manifest import file_sha256
    from skills.dataset.synth_plan import text_chunks

    if not sources:
        raise UsageError("The 'qa' task needs sources; pass --source FILE|URL (one or more).")
    chunks: list[dict[str, str]] = []
    manifest_sources: list[Source] = []
    for source in sources:
        if is_url(source):
            cfg = settings.datasets
            text = fetch_text(source, allowed_hosts=cfg.allowed_hosts, max_bytes=cfg.fetch_max_bytes,
                              timeout_s=cfg.fetch_timeout_s)
            label = source
            manifest_sources.append(Source(kind="url", path=source, sha256=hashlib.sha256(text.encode()).hexdigest(),
                                           note="fetched page"))
        else:
            path = Path(source)
            if not path.is_file():
                raise UsageError(f"Source {source} is neither a file nor an http(s) address; check the path.")
            text, label = path.read_text(encoding="utf-8", errors="replace"), path.name  # no local paths in rows
            manifest_sources.append(Source(kind="file", path=str(path), sha256=file_sha256(path)))
        chunks += [{"text": chunk, "source": label} for chunk in text_chunks(text)]
    return chunks, manifest_sources


def _local_model_on_worker(settings: Any) -> bool:
    """With the local provider and `executor.kind = "ray"` the rows are made by a job on the GPU box."""
    from skills.jobs.heavy import model_work_on_worker

    return settings.llm.provider == "local" and model_work_on_worker(settings)


def _synth_on_worker(settings: Any, task: str, output: Path, inputs: Inputs, options: Options, system_prompt: str,
                     persona: str | None, max_rows: int, max_seconds: float, min_score: float | None) -> dict[str, Any]:
    """The run's items are gathered here (files and fetched pages are this machine's); the local model on the GPU
    box writes the rows. What needs a model before the rows (generated perspectives) or a judge beside them
    (--best-of, --min-score) is refused in one sentence instead of loading weights on this host."""
    from dataclasses import asdict

    from skills.jobs.heavy import synth_on_executor

    if options.best_of > 1 or min_score is not None:
        raise UsageError("--best-of and --min-score need a judge beside the local model, which writes the rows on the "
                         "GPU box here; point [judge] and [llm] at a served model (ollama or openai) to use them.")
    if task == "topics" and not inputs.perspectives:
        raise UsageError("With the local model on the GPU box, name the perspectives yourself (--perspective, "
                         "repeatable); generating them there is not supported yet.")
    items, sources, plan = _items(settings, task, output, inputs, None, max_rows)
    return synth_on_executor(settings, task, items, output, system_prompt=system_prompt, persona=persona,
                             max_rows=max_rows, max_seconds=max_seconds, max_tokens=settings.llm.max_new_tokens,
                             sources=[s.model_dump(mode="json") for s in sources],
                             options=asdict(options), plan=plan)
