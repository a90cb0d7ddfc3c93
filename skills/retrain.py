"""The nightly retrain pipeline for one persona, gated so that it can never make things worse.

harvest new consented conversations → merge into the persona's dataset → validate → train (SFT) through the
configured executor → preference stage: DPO on 👍/👎 pairs, else KTO on rated answers, continuing from the SFT
candidate (or the served adapter) → evaluate against the served adapter → promote only if the gate passes → report.
Either training stage runs alone when only it has enough new data.
Every step's outcome is recorded in SQLite (retrain_runs) and returned; a skipped or rejected run says why.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from config.errors import SelftuneError
from config.settings import Settings, load_settings
from config.state import connect

log = logging.getLogger(__name__)
Status = Literal["promoted", "canary", "rejected", "skipped", "failed"]
TRAIN_TIMEOUT_S = 6 * 3600


class Step(BaseModel):
    """The outcome of one pipeline step."""

    step: str
    ok: bool
    detail: str


class RetrainOutcome(BaseModel):
    """What a retrain run did and why."""

    persona: str
    status: Status = "failed"
    reason: str = ""
    steps: list[Step] = Field(default_factory=list)
    job_id: str | None = None
    candidate: str | None = None
    served: str | None = None
    report: dict[str, Any] | None = None
    skipped: dict[str, int] = Field(default_factory=dict, description=(
        "Answers the harvest left out, by reason, over the persona's channels (loops, copies, commands...)."))
    started_at: float = Field(default_factory=time.time)
    finished_at: float | None = None

    def record(self, step: str, ok: bool, detail: str) -> None:
        """Append a step outcome (and log it)."""
        log.info("retrain %s: %s %s: %s", self.persona, step, "ok" if ok else "stopped", detail)
        self.steps.append(Step(step=step, ok=ok, detail=detail))

    def finish(self, status: Status, reason: str) -> RetrainOutcome:
        self.status, self.reason, self.finished_at = status, reason, time.time()
        return self


class Stop(Exception):
    """Ends the pipeline early with a status and a user-facing reason."""

    def __init__(self, status: Status, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def init_schema(conn: Any) -> None:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS retrain_runs (id INTEGER PRIMARY KEY, persona TEXT NOT NULL, status TEXT, "
        "reason TEXT, job_id TEXT, candidate TEXT, started_at REAL, finished_at REAL, steps TEXT)"
    )
    # Rated answers a preference stage has trained on: the next night counts only new feedback.
    conn.execute("CREATE TABLE IF NOT EXISTS retrain_feedback (persona TEXT NOT NULL, message_id TEXT NOT NULL, "
                 "PRIMARY KEY (persona, message_id))")


def _save(settings: Settings, outcome: RetrainOutcome) -> None:
    conn = connect(settings)
    try:
        init_schema(conn)
        conn.execute(
            "INSERT INTO retrain_runs (persona, status, reason, job_id, candidate, started_at, finished_at, steps) "
            "VALUES (?,?,?,?,?,?,?,?)",
            (outcome.persona, outcome.status, outcome.reason, outcome.job_id, outcome.candidate,
             outcome.started_at, outcome.finished_at, json.dumps([s.model_dump() for s in outcome.steps])),
        )
    finally:
        conn.close()


def recent_runs(settings: Settings, persona: str | None = None, limit: int = 10) -> list[dict[str, Any]]:
    """The latest recorded runs, newest first."""
    conn = connect(settings)
    try:
        init_schema(conn)
        sql = "SELECT * FROM retrain_runs" + (" WHERE persona = ?" if persona else "") + " ORDER BY id DESC LIMIT ?"
        rows = conn.execute(sql, (persona, limit) if persona else (limit,)).fetchall()
        return [{**dict(r), "steps": json.loads(r["steps"] or "[]")} for r in rows]
    finally:
        conn.close()


def _check_no_running_job(settings: Settings, persona: str, outcome: RetrainOutcome) -> None:
    from skills.jobs import JobManager

    active = [j for j in JobManager(settings).list(limit=50)
              if j.spec.get("persona") == persona and j.state in ("queued", "running")]
    if active:
        raise Stop("skipped", f"job {active[0].id} for {persona} is still {active[0].state}; not starting another")
    outcome.record("overlap", True, "no other job for this persona is running")


def _harvest(settings: Settings, persona: Any, outcome: RetrainOutcome) -> list[Path] | None:
    """Harvest each consented channel of the persona incrementally; None when too little is new for SFT."""
    from memory.store import Memory
    from skills.dataset.harvest import harvest_channel

    memory = Memory(settings)
    files, new_rows = [], 0
    try:
        for channel in persona.channels:
            if not memory.consented(channel):
                outcome.record("harvest", True, f"channel {channel} has not opted in; skipped")
                continue
            result = harvest_channel(memory, channel, persona=persona.name, incremental=True)
            new_rows += result.rows
            for reason, count in result.skipped.items():
                outcome.skipped[reason] = outcome.skipped.get(reason, 0) + count
            if result.path is not None:
                files.append(result.path)
    finally:
        memory.close()
    _accumulate(settings, persona.name, files)  # kept even on a night with too little to train on
    left_out = ", ".join(f"{reason} {count}" for reason, count in outcome.skipped.items() if count)
    if left_out:  # loops, copies and command replies are never learned; the run says how many there were
        outcome.record("harvest skipped", True, f"left out: {left_out}")
    minimum = settings.scheduler.min_new_conversations
    if new_rows < minimum:
        outcome.record("harvest", False, f"only {new_rows} new conversations, minimum is {minimum}")
        return None
    outcome.record("harvest", True, f"{new_rows} new conversations from {len(files)} channel(s)")
    return files


def _first_adapter(settings: Settings, persona: str, outcome: RetrainOutcome) -> bool:
    """True when the persona has the owner's dataset but no adapter was ever trained for it: those rows are new to
    every model, so the first nightly run trains on them however few conversations came in."""
    from skills.train.adapters import persona_adapter
    from skills.train.spec import owner_dataset

    owner = owner_dataset(settings, persona)
    if not owner.is_file() or persona_adapter(settings, persona) is not None:
        return False
    outcome.record("first", True, f"no adapter was trained for {persona} yet: training one on {owner.name}")
    return True


def harvested_dataset(settings: Settings, persona: str) -> Path:
    """Every row the nightly harvests produced for the persona so far (kept whatever became of each night's
    candidate: the harvest cursor has moved past those conversations, so they are harvested only once)."""
    return settings.artifacts_dir / "datasets" / f"{persona}-harvested.jsonl"


def _accumulate(settings: Settings, persona: str, new_files: list[Path]) -> None:
    """Add tonight's harvest to the persona's harvested rows (a new file renamed over the old: all or nothing)."""
    from skills.dataset.io import write_dataset
    from skills.dataset.manifest import read_manifest
    from skills.dataset.provenance import unique_rows_with_ids

    if not new_files:
        return
    kept = harvested_dataset(settings, persona)
    earlier = read_manifest(kept) if kept.is_file() else None
    sources = ([kept] if kept.is_file() else []) + list(new_files)
    rows, ids = unique_rows_with_ids(sources)
    # Provenance: every harvest file behind the rows, not this file itself; and each row's message ids.
    write_dataset(rows, kept, sources=[*(earlier.sources if earlier else []), *map(str, new_files)], row_messages=ids)


def _merge_and_validate(settings: Settings, persona: str, outcome: RetrainOutcome) -> Path:
    """The persona's dataset (the owner's `<persona>.jsonl`) plus every row harvested so far, as a new file
    (never in place), validated."""
    from skills.dataset.io import write_dataset
    from skills.dataset.provenance import clean_forgotten, unique_rows_with_ids
    from skills.dataset.validate import validate_file
    from skills.train.spec import owner_dataset

    clean_forgotten(settings)  # rows of messages forgotten since (retention in the bot too) never train again

    sources = [s for s in (owner_dataset(settings, persona), harvested_dataset(settings, persona)) if s.is_file()]
    merged = settings.artifacts_dir / "datasets" / f"{persona}-{time.strftime('%Y%m%d-%H%M%S')}.jsonl"
    rows, ids = unique_rows_with_ids(sources)
    write_dataset(rows, merged, sources=[str(s) for s in sources], row_messages=ids)  # provenance: files and messages
    report = validate_file(merged, checks=False)  # only invalid rows stop a retrain
    if report.invalid:
        raise Stop("failed", f"the merged dataset has {report.invalid} invalid rows (first: line "
                             f"{report.errors[0].line}: {report.errors[0].message})")
    outcome.record("dataset", True, f"{report.rows} rows in {merged.name}")
    return merged


def _preferences(settings: Settings, persona: str, outcome: RetrainOutcome) -> tuple[str, list[dict]] | None:
    """("dpo", pairs) when enough new liked/disliked pairs exist, else ("kto", rated rows), else None."""
    from memory.store import Memory

    memory = Memory(settings)
    try:
        used = _used_feedback(settings, persona)
        minimum = settings.scheduler.min_preference_pairs
        for kind in ("dpo", "kto"):
            rows = memory.preferences(persona=persona, kind=kind)
            new = [r for r in rows if not set(r["message_ids"]) <= used]
            # Both counts matter: enough new feedback to be worth a run, enough rows in all to train (train.min_rows);
            # a few pairs often fall short of the latter while their rated answers (two per pair) as KTO rows do not.
            if len(new) >= minimum and len(rows) >= settings.train.min_rows:
                unit = "pairs" if kind == "dpo" else "rated answers"
                outcome.record("preferences", True, f"{len(new)} new feedback {unit} ({len(rows)} in all): {kind.upper()} stage")
                return kind, rows
    finally:
        memory.close()
    return None


def _used_feedback(settings: Settings, persona: str) -> set[str]:
    conn = connect(settings)
    try:
        init_schema(conn)
        return {r[0] for r in conn.execute("SELECT message_id FROM retrain_feedback WHERE persona = ?", (persona,))}
    finally:
        conn.close()


def _mark_feedback_used(settings: Settings, persona: str, rows: list[dict]) -> None:
    conn = connect(settings)
    try:
        init_schema(conn)
        conn.executemany("INSERT OR IGNORE INTO retrain_feedback (persona, message_id) VALUES (?, ?)",
                         [(persona, m) for r in rows for m in r["message_ids"]])
    finally:
        conn.close()


def _write_preferences(settings: Settings, persona: str, kind: str, rows: list[dict]) -> Path:
    """The persona's feedback as a DPO or KTO dataset file (message ids stay out of training rows)."""
    from skills.dataset.io import write_dataset

    path = settings.artifacts_dir / "datasets" / f"{persona}-{kind}-{time.strftime('%Y%m%d-%H%M%S')}.jsonl"
    clean = [{k: v for k, v in r.items() if k != "message_ids"} for r in rows]
    write_dataset(clean, path, fmt=kind, sources=[f"feedback:{persona}"],
                  row_messages=[list(r["message_ids"]) for r in rows])
    return path


SFT_ONLY_OVERRIDES = ("max_steps", "epochs", "learning_rate", "from_served")
CONTINUING_BUDGET = ("epochs", "learning_rate")  # from_served's step size, not a fresh adapter's


def _continuing(settings: Settings, adapter_id: str) -> dict[str, Any]:
    """Overrides that make a stage go on training `adapter_id` (on the base it was trained on)."""
    from skills.train.adapters import get_adapter

    begin = get_adapter(settings, adapter_id)
    return {"parent": adapter_id, "init_adapter": begin.path, "base_model": begin.base_model}


def _sft_start(settings: Settings, served: str | None, overrides: dict[str, Any]) -> dict[str, Any]:
    """The SFT stage's overrides; with `from_served = true` (a schedule option) it goes on training the served
    adapter instead of a fresh LoRA on the base: a small step from what users already liked, not a new model."""
    overrides = dict(overrides)
    if not overrides.pop("from_served", False):
        return overrides
    if served:
        return {**overrides, **_continuing(settings, served)}
    # Nothing served yet: the first adapter trains at the recipe's own budget; a continuing step's (one epoch at
    # a small learning rate) would barely move a fresh LoRA.
    return {k: v for k, v in overrides.items() if k not in CONTINUING_BUDGET}


def _preference_stage(settings: Settings, persona: Any, prefs: tuple[str, list[dict]], start: str | None,
                      outcome: RetrainOutcome, overrides: dict[str, Any]) -> str:
    """Train DPO/KTO on the feedback, continuing from `start` (the SFT candidate or the served adapter)."""
    kind, rows = prefs
    dataset = _write_preferences(settings, persona.name, kind, rows)
    extra: dict[str, Any] = {"name": f"{persona.name}-{kind}"}
    # A schedule's step budget and learning rate size the SFT stage; DPO/KTO keep their recipe's (an SFT rate
    # or step count is far too much for a preference objective on a few dozen rated answers).
    overrides = {k: v for k, v in overrides.items() if k not in SFT_ONLY_OVERRIDES}
    if start:  # the stage goes on training `start`, so it must load the base `start` was trained on
        extra.update(_continuing(settings, start))
    candidate = _train(settings, persona, dataset, outcome, {**overrides, **extra}, recipe=kind, step=f"train-{kind}")
    _mark_feedback_used(settings, persona.name, rows)
    return candidate


def _off_eval_split(settings: Settings, prefs: tuple[str, list[dict]], eval_file: Path,
                    outcome: RetrainOutcome) -> tuple[str, list[dict]] | None:
    """The feedback rows whose prompt is not in the SFT candidate's eval split: the stacked candidate is measured
    there, so training on those prompts would make the gate refuse it as overlapping (or flatter it)."""
    from skills.dataset.dedup import row_text, seen_in
    from skills.dataset.io import iter_canonical

    kind, rows = prefs
    held = [row_text(r, prompt_only=True) for r in iter_canonical(eval_file)]
    asked = seen_in(held, [row_text(r, prompt_only=True) for r in rows])
    kept = [r for r, seen in zip(rows, asked, strict=True) if not seen]
    if len(kept) == len(rows):
        return prefs
    enough = len(kept) >= settings.train.min_rows
    outcome.record("preferences", enough, f"{len(rows) - len(kept)} feedback rows ask eval-split prompts and stay out; "
                   + (f"{len(kept)} remain" if enough else f"{len(kept)} remain, fewer than train.min_rows"))
    return (kind, kept) if enough else None


def _train(settings: Settings, persona: Any, dataset: Path, outcome: RetrainOutcome, overrides: dict[str, Any],
           recipe: str | None = None, step: str = "train") -> str:
    from skills.jobs import JobManager
    from skills.jobs.submit import submit_training
    from skills.train.adapters import get_adapter

    manager = JobManager(settings)
    try:
        submitted = submit_training(settings, recipe or persona.recipe, persona=persona.name, dataset=dataset,
                                    requester="scheduler", manager=manager, **overrides)
        outcome.job_id = submitted.job_id
        job = manager.wait(outcome.job_id, timeout=TRAIN_TIMEOUT_S)
    finally:
        manager.close()
    if job.state != "succeeded" or not job.adapter:
        raise Stop("failed", f"training job {job.id} ended {job.state}: {job.error or 'no adapter was produced'}")
    # The job reports the adapter folder (artifacts/adapters/<name>/<version>); the registry speaks ids.
    outcome.candidate = get_adapter(settings, "/".join(Path(job.adapter).parts[-2:])).id
    outcome.record(step, True, f"job {job.id} produced {outcome.candidate}")
    return outcome.candidate


def _evaluate(settings: Settings, persona: str, candidate: str, served: str | None, outcome: RetrainOutcome,
              data: Path | None = None) -> bool:
    from skills.evaluate.promotion import evaluate_against_served

    doc = evaluate_against_served(settings, persona, candidate, served, data=data)
    outcome.report = {"gate": doc["gate"], "report": doc.get("report")}
    verdict = doc["gate"]
    outcome.record("evaluate", bool(verdict["promote"]), verdict["reason"])
    return bool(verdict["promote"])


def _update_serving(settings: Settings, persona: str, candidate: str, outcome: RetrainOutcome) -> None:
    """Build the persona's Ollama model for the candidate when an Ollama server answers (the one its chats are
    routed to); the local chat path and the llama.cpp server read the served pointer themselves. A failed
    build is recorded; the promotion stands."""
    from skills.export.ollama import server_version
    from skills.providers.persona import ensure_ollama_model, ollama_host

    host = ollama_host(settings)
    if server_version(host) is None:
        outcome.record("serve", True, f"no Ollama at {host}; local serving follows the served pointer")
        return
    try:
        name = ensure_ollama_model(settings, persona, candidate)
        outcome.record("serve", True, f"Ollama model {name} ready for {persona}'s chats")
    except SelftuneError as exc:
        outcome.record("serve", False, f"Ollama model not updated: {exc}")


def run_retrain(settings: Settings, persona_name: str, **train_overrides: Any) -> RetrainOutcome:
    """Run the whole pipeline once for a persona; never raises for expected failures."""
    from skills.personas import load_persona
    from skills.train import adapters

    outcome = RetrainOutcome(persona=persona_name)
    try:
        persona = load_persona(settings.workspace_dir, persona_name)
        _check_no_running_job(settings, persona_name, outcome)
        new_files = _harvest(settings, persona, outcome)
        prefs = _preferences(settings, persona_name, outcome)
        first = _first_adapter(settings, persona_name, outcome)
        if new_files is None and prefs is None and not first:  # the harvest step says how little is new
            raise Stop("skipped", outcome.steps[-1].detail)
        current = adapters.served_adapter(settings, persona_name)
        served = current.id if current else None
        outcome.served = served
        candidate, eval_file = served, None
        if new_files is not None or first:
            dataset = _merge_and_validate(settings, persona_name, outcome)
            candidate = _train(settings, persona, dataset, outcome, _sft_start(settings, served, train_overrides))
            eval_file = _recorded_eval(settings, candidate)  # the SFT split measures the stacked candidate too
        if prefs is not None and eval_file is not None:
            prefs = _off_eval_split(settings, prefs, eval_file, outcome)
        if prefs is not None:
            candidate = _preference_stage(settings, persona, prefs, candidate, outcome, train_overrides)
        if candidate is None:
            raise Stop("failed", "no training stage produced a candidate")
        if not _evaluate(settings, persona_name, candidate, served, outcome, eval_file):
            kept = served or "the base model"
            return _done(settings, outcome.finish("rejected", f"{outcome.steps[-1].detail}; keeping {kept}"))
        if settings.retrain.canary_share > 0:  # people decide first: the candidate serves a share of turns
            return _done(settings, _start_canary(settings, persona_name, candidate, served, outcome))
        adapters.promote(settings, persona_name, candidate)
        outcome.served = candidate
        outcome.record("promote", True, f"{persona_name} now serves {candidate}")
        _update_serving(settings, persona_name, candidate, outcome)
        return _done(settings, outcome.finish("promoted", f"{candidate} beat {served or 'the base model'}"))
    except Stop as stop:
        return _done(settings, outcome.finish(stop.status, stop.reason))
    except SelftuneError as exc:
        return _done(settings, outcome.finish("failed", str(exc)))


def _start_canary(settings: Settings, persona: str, candidate: str, served: str | None,
                  outcome: RetrainOutcome) -> RetrainOutcome:
    from skills import canary

    started = canary.start(settings, persona, candidate, share=settings.retrain.canary_share,
                           days=settings.retrain.canary_days)
    sentence = (f"{candidate} passed the gate and answers {started.share:.0%} of {persona}'s chats beside "
                f"{served or 'the base model'} until {started.deadline:%Y-%m-%d %H:%M} UTC; 👍/👎 decide then")
    outcome.record("canary", True, sentence)
    return outcome.finish("canary", sentence)


def _recorded_eval(settings: Settings, adapter_id: str) -> Path | None:
    """The eval file recorded in an adapter's manifest, if any."""
    from skills.train.adapters import get_adapter

    manifest = Path(get_adapter(settings, adapter_id).path) / "manifest.json"
    entry = json.loads(manifest.read_text(encoding="utf-8")).get("eval_dataset") if manifest.is_file() else None
    return Path(entry["path"]) if entry and entry.get("path") else None


def _done(settings: Settings, outcome: RetrainOutcome) -> RetrainOutcome:
    _save(settings, outcome)
    return outcome


def scheduled_retrain(persona: str, home: str, config: str | None = None, **overrides: Any) -> dict[str, Any]:
    """Entry point the scheduler persists (a textual reference); rebuilds settings from the state dir."""
    settings = load_settings(Path(config) if config else None, home=Path(home))
    return run_retrain(settings, persona, **overrides).model_dump(mode="json")
