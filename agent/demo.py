"""`selftune demo`: the whole headline flow on this machine, one small step function at a time.

persona dataset (synthetic rewrite of the shipped seeds) → validate + split → LoRA job through the JobManager
→ evaluate before/after → promote → export (merged + GGUF) → serve with llama.cpp and chat once → nightly
retrain schedule → one improver round → summary. Each step prints progress and returns the artifacts it made;
a step whose part is unavailable here says so and the demo goes on. Heavy libraries are imported inside steps.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from rich.console import Console
from rich.table import Table

from config.errors import SelftuneError
from config.settings import Settings

PERSONA = "pirate"
ADAPTER_NAME = "pirate-demo"
Status = Literal["ok", "skipped", "failed"]


class DemoPlan(BaseModel):
    """How big the demo is: --tiny keeps every step to seconds for CI."""

    model_config = ConfigDict(extra="forbid")
    tiny: bool = False
    rows: int = Field(16, description="Synthetic persona rows to generate (~5 s each with SmolLM2 on 2 CPU cores).")
    synth_tokens: int = Field(72, description="max_new_tokens per synthetic answer.")
    max_steps: int = Field(45, description="LoRA optimizer steps at most.")
    learning_rate: float = 2e-4
    max_length: int = 384
    eval_limit: int = 8
    train_budget_s: float = Field(300.0, gt=0, description="Time budget of the optimizer steps: a slow machine "
                                  "trains fewer steps (measured step time) and the demo goes on with that adapter.")
    train_grace_s: float = Field(600.0, gt=0, description="Beyond the budget: loading the model, the held-out loss "
                                 "and writing the adapter; a job still running after both is cancelled.")
    improver_prompts: int = 8

    @classmethod
    def for_mode(cls, tiny: bool) -> DemoPlan:
        """The tiny plan (CI: random 2-layer model, seconds) or the default plan (SmolLM2 on CPU, minutes)."""
        if tiny:
            return cls(tiny=True, rows=14, synth_tokens=16, max_steps=40, learning_rate=1e-2, max_length=256,
                       eval_limit=4, train_budget_s=120.0, train_grace_s=240.0, improver_prompts=4)
        return cls()


class StepResult(BaseModel):
    """What one step did: ok/skipped/failed, one line of detail, and the files it wrote."""

    model_config = ConfigDict(extra="forbid")
    name: str
    status: Status = "ok"
    detail: str = ""
    artifacts: dict[str, str] = Field(default_factory=dict)
    data: dict[str, Any] = Field(default_factory=dict)
    seconds: float = 0.0


class DemoState:
    """What later steps need from earlier ones (paths, adapter id, exported files)."""

    def __init__(self, settings: Settings, plan: DemoPlan, console: Console) -> None:
        self.settings, self.plan, self.console = settings, plan, console
        self.out = settings.artifacts_dir / "demo"
        self.values: dict[str, Any] = {}

    def say(self, text: str) -> None:
        """One progress line (rich markup allowed)."""
        self.console.print(f"  {text}")


def demo_settings(settings: Settings, plan: DemoPlan) -> Settings:
    """The settings the demo runs with: the tiny model everywhere in --tiny mode, the local executor always."""
    update: dict[str, Any] = {"executor": settings.executor.model_copy(update={"kind": "local"}),
                              "llm": settings.llm.model_copy(update={"max_new_tokens": plan.synth_tokens})}
    if plan.tiny:
        update["base_model"] = "tiny"
        update["llm"] = update["llm"].model_copy(update={"provider": "local", "model": "tiny", "fallback": []})
        update["judge"] = settings.judge.model_copy(update={"provider": "local", "model": "tiny"})
    return settings.model_copy(update=update)


# --- steps -------------------------------------------------------------------------------------------

def step_dataset(state: DemoState) -> StepResult:
    """Synthetic persona rewrite of the shipped seed prompts through the configured (local) provider."""
    from skills.dataset.synth import run_synth

    out = state.out / f"{PERSONA}.jsonl"
    out.unlink(missing_ok=True)
    state.say(f"asking the {state.settings.llm.provider} model '{state.settings.llm.model}' to answer "
              f"{state.plan.rows} seed prompts as the {PERSONA}")
    result = run_synth(state.settings, "persona", out, persona=PERSONA, max_rows=state.plan.rows,
                       max_seconds=600, progress=lambda p: state.say(f"row {p['rows']}/{p['max_rows']}"))
    state.values["dataset"] = Path(result["path"])
    return StepResult(name="dataset", detail=f"{result['rows']} rows by {result['model']}",
                      artifacts={"dataset": str(result["path"]), "manifest": f"{result['path']}.manifest.json"})


def step_validate(state: DemoState) -> StepResult:
    """Validate the dataset and split off a held-out eval set without duplicate leakage."""
    from skills.dataset.split import split_file
    from skills.dataset.validate import validate_file

    report = validate_file(state.values["dataset"])
    if not report.ok:
        raise SelftuneError(f"The demo dataset {state.values['dataset']} failed validation: {report.errors[0]}.")
    split = split_file(state.values["dataset"], eval_ratio=0.3, seed=0)
    train, held = split["train"]["path"], split["eval"]["path"]
    state.values.update(train=Path(train), eval=Path(held))
    state.say(f"{report.valid} valid rows; split into {Path(train).name} and {Path(held).name}")
    return StepResult(name="validate", detail=f"{report.valid}/{report.rows} rows valid",
                      artifacts={"train": str(train), "eval": str(held)})


def step_train(state: DemoState) -> StepResult:
    """LoRA-train through the JobManager (local executor), drawing step/loss/ETA while it runs."""
    from skills.jobs import JobManager
    from skills.jobs.submit import submit_training

    plan = state.plan
    manager = JobManager(state.settings)
    try:
        doc = submit_training(state.settings, "persona-lora", persona=PERSONA, dataset=state.values["train"],
                              executor="local", requester="demo", manager=manager, eval_dataset=state.values["eval"],
                              name=ADAPTER_NAME, max_steps=plan.max_steps, learning_rate=plan.learning_rate,
                              max_length=plan.max_length, batch_size=2, eval_steps=plan.max_steps,
                              save_steps=plan.max_steps, logging_steps=1, warmup_ratio=0.0,
                              max_seconds=plan.train_budget_s)
        job_id = doc.job_id
        state.values["job_id"] = job_id  # Ctrl-C from here on cancels it (stop_started)
        state.say(f"job {job_id} submitted ({doc.method}, up to {plan.max_steps} steps or {plan.train_budget_s:.0f} s "
                  f"of training on {doc.base_model})")
        job = _follow(manager, job_id, state)
    finally:
        manager.close()
    if job.state != "succeeded":
        raise SelftuneError(f"Training job {job_id} ended {job.state}: {job.error or 'see selftune jobs logs'}.")
    adapter_id = doc.adapter_id
    steps = int(job.progress.get("step") or 0)
    state.values.update(adapter_id=adapter_id, adapter_dir=Path(doc.output_dir))
    detail = f"job {job_id} → adapter {adapter_id}"
    if 0 < steps < plan.max_steps:
        detail += f" ({steps} of {plan.max_steps} steps in the {plan.train_budget_s:.0f} s budget)"
    return StepResult(name="train", detail=detail, artifacts={"adapter": doc.output_dir},
                      data={"job_id": job_id, "adapter_id": adapter_id, "steps": steps})


def _follow(manager: Any, job_id: str, state: DemoState) -> Any:
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("  {task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
               TextColumn("loss {task.fields[loss]}"), TimeRemainingColumn())
    limit = state.plan.train_budget_s + state.plan.train_grace_s
    deadline = time.monotonic() + limit
    with Progress(*columns, console=state.console, transient=False) as bar:
        task = bar.add_task(f"job {job_id}", total=state.plan.max_steps, loss="-")
        job = manager.get(job_id)
        while not job.done and time.monotonic() < deadline:
            time.sleep(0.3)
            job = manager.get(job_id)
            loss = job.progress.get("loss")
            bar.update(task, completed=job.progress.get("step", 0), description=f"job {job_id} {job.state}",
                       loss=f"{loss:.3f}" if isinstance(loss, int | float) else "-")
    if not job.done:
        manager.cancel(job_id)
        raise SelftuneError(f"Training job {job_id} was still running after {limit:.0f} s; cancelled it.")
    return job


def step_evaluate(state: DemoState) -> StepResult:
    """Before/after: samples, held-out loss, judge verdict, forgetting check, PNG report."""
    from skills.evaluate.report import verdict as verdict_words
    from skills.evaluate.run import evaluate_adapter

    doc = evaluate_adapter(state.settings, state.values["adapter_id"], data=state.values["eval"], persona=PERSONA,
                           limit=state.plan.eval_limit, max_new_tokens=24 if state.plan.tiny else 48,
                           progress=lambda e: state.say(str(e.get("message", e))))
    held = doc["heldout"]
    base_loss, tuned_loss = _mean(held["against"]), _mean(held["candidate"])
    state.values["eval_doc"] = doc
    sample = (doc.get("samples") or [{}])[0]
    if sample:
        state.say(f"[dim]before:[/dim] {sample['against'][:80]!r}")
        state.say(f"[dim]after: [/dim] {sample['candidate'][:80]!r}")
    detail = f"held-out loss {base_loss:.3f} → {tuned_loss:.3f}; gate: {verdict_words(doc)}"
    return StepResult(name="evaluate", detail=detail, artifacts=dict(doc["report"]),
                      data={"base_loss": base_loss, "adapter_loss": tuned_loss, "gate": doc["gate"]})


def _mean(summary: Any) -> float:
    return float(summary["loss"] if isinstance(summary, dict) else summary)


def step_promote(state: DemoState) -> StepResult:
    """Serve the new adapter for the pirate persona (a workspace commit; `selftune adapters rollback` undoes it)."""
    from skills.train.adapters import promote

    gate = state.values["eval_doc"]["gate"]
    if not gate.get("promote"):
        # Scheduled retrains obey the gate; the demo serves the adapter anyway so there is something to try,
        # and says so plainly.
        state.say(f"[yellow]the gate would keep the base:[/] {gate['reason']} Serving it anyway for the demo; "
                  f"`selftune rollback {PERSONA}` undoes this.")
    sha = promote(state.settings, PERSONA, state.values["adapter_id"])
    state.say(f"{PERSONA} now serves {state.values['adapter_id']} (commit {sha[:8]})")
    detail = f"{PERSONA} → {state.values['adapter_id']}" + ("" if gate.get("promote") else " (despite the gate, for the demo)")
    return StepResult(name="promote", detail=detail, data={"commit": sha, "gate_agreed": bool(gate.get("promote"))})


def step_export(state: DemoState) -> StepResult:
    """Export the adapter merged into its base (HF folder) and as a llama.cpp LoRA GGUF."""
    from skills.export.gguf import write_lora_gguf
    from skills.export.merge import merge_adapter
    from skills.models import resolve_base_model
    from skills.train.lookup import base_model_of, resolve_adapter

    ref = resolve_adapter(state.values["adapter_id"], state.settings)
    out = state.out / "export"
    merged = merge_adapter(state.settings, ref, out / "merged")
    state.say(f"merged model written to {merged}")
    base_dir = resolve_base_model(base_model_of(ref, state.settings), state.settings.models_dir)
    out.mkdir(parents=True, exist_ok=True)
    lora = write_lora_gguf(ref.path, base_dir, out / f"{ADAPTER_NAME}.lora.gguf")
    state.values["lora_gguf"] = lora
    state.say(f"LoRA GGUF written to {lora}")
    return StepResult(name="export", detail="merged + GGUF", artifacts={"merged": str(merged), "gguf": str(lora)})


def step_serve(state: DemoState) -> StepResult:
    """Serve base GGUF + the LoRA GGUF with the local llama.cpp server and chat with the adapter once."""
    if "lora_gguf" not in state.values:
        return StepResult(name="serve", status="skipped", detail="nothing to serve: the GGUF export did not run")
    from skills.export.run import base_gguf_for
    from skills.export.serve import LlamaServer
    from skills.train.lookup import base_model_of, resolve_adapter

    ref = resolve_adapter(state.values["adapter_id"], state.settings)
    try:
        gguf = base_gguf_for(base_model_of(ref, state.settings), state.settings)  # packaged, else converted once
    except SelftuneError as exc:  # no GGUF converter here: nothing to serve with, not a failure of the demo
        return StepResult(name="serve", status="skipped", detail=str(exc))

    question = "What should I pack for a sea voyage?"
    with LlamaServer(gguf, {ADAPTER_NAME: state.values["lora_gguf"]}) as server:
        server.use(ADAPTER_NAME)
        state.say(f"llama.cpp server on {server.base_url}; asking: {question}")
        answer = server.client().chat.completions.create(
            model=ADAPTER_NAME, messages=[{"role": "user", "content": question}], max_tokens=48, temperature=0)
    text = (answer.choices[0].message.content or "").strip()
    state.say(f"[bold]{PERSONA}:[/bold] {text[:200]}")
    return StepResult(name="serve", detail=f"answered {len(text)} chars", data={"question": question, "answer": text})


def step_schedule(state: DemoState) -> StepResult:
    """A persisted nightly retrain of the persona (promotes only when the new adapter beats the served one)."""
    from skills.scheduler import add_retrain

    info = add_retrain(state.settings, PERSONA, at="02:00")
    state.say(f"{info.name}; next run {info.next_run}")
    return StepResult(name="schedule", detail=info.name, data=info.model_dump(mode="json"))


def step_improve(state: DemoState) -> StepResult:
    """One bounded improvement round on the pirate persona's system prompt, judged by the evaluator process."""
    from improver.eval_config import from_settings
    from improver.loop import Loop, stop_reason

    reason = stop_reason(state.settings)
    if reason:
        return StepResult(name="improve", status="skipped", detail=reason)
    cfg = from_settings(state.settings, repeats=2, max_prompts=state.plan.improver_prompts, max_new_tokens=24,
                        bootstrap=200)
    loop = Loop(state.settings, eval_config=cfg, proposal_budget_s=300, progress=state.say)
    summary = loop.run(rounds=1, targets=[f"persona:{PERSONA}"])
    verdicts = ", ".join(f"{e.target} {e.verdict}" for e in summary.entries) or "; ".join(summary.notes) or "no entry"
    return StepResult(name="improve", detail=verdicts, data=summary.model_dump(mode="json"))


STEPS: list[tuple[str, Callable[[DemoState], StepResult], tuple[str, ...]]] = [
    ("dataset", step_dataset, ()),
    ("validate", step_validate, ("dataset",)),
    ("train", step_train, ("validate",)),
    ("evaluate", step_evaluate, ("train",)),
    ("promote", step_promote, ("train",)),
    ("export", step_export, ("train",)),
    ("serve", step_serve, ("export",)),
    ("schedule", step_schedule, ()),
    ("improve", step_improve, ()),
]


# --- runner ------------------------------------------------------------------------------------------

def run_step(state: DemoState, name: str, func: Callable[[DemoState], StepResult]) -> StepResult:
    """Run one step; an unavailable part is 'skipped', an expected failure 'failed' — never a traceback."""
    state.console.rule(f"[bold]{name}[/bold]: {(func.__doc__ or '').strip()}", align="left")
    started = time.monotonic()
    try:
        result = func(state)
    except ImportError as exc:
        result = StepResult(name=name, status="skipped", detail=f"this build has no {exc.name or 'part'} for it")
    except SelftuneError as exc:
        result = StepResult(name=name, status="failed", detail=str(exc))
    result.seconds = round(time.monotonic() - started, 1)
    mark = {"ok": "[green]✓[/green]", "skipped": "[yellow]–[/yellow]", "failed": "[red]✗[/red]"}[result.status]
    state.console.print(f"{mark} {name}: {result.detail}", highlight=False)
    return result


def run_demo(settings: Settings, plan: DemoPlan, console: Console) -> list[StepResult]:
    """Run every step in order; a step whose prerequisite did not succeed is skipped with the reason.

    Ctrl-C cancels the training job and ends every process the demo started, then raises KeyboardInterrupt."""
    state = DemoState(demo_settings(settings, plan), plan, console)
    state.out.mkdir(parents=True, exist_ok=True)
    results: dict[str, StepResult] = {}
    try:
        for name, func, needs in STEPS:
            blocked = [n for n in needs if results[n].status != "ok"]
            if blocked:
                results[name] = StepResult(name=name, status="skipped", detail=f"needs the {blocked[0]} step")
                console.print(f"[yellow]–[/yellow] {name}: skipped (the {blocked[0]} step did not succeed)")
                continue
            results[name] = run_step(state, name, func)
    except KeyboardInterrupt:
        console.print("[yellow]Stopping:[/] cancelling the training job and ending the processes the demo started…")
        stop_started(state)
        raise
    return list(results.values())


def stop_started(state: DemoState) -> None:
    """End every process the demo started: the training job by a cancel (its supervisor stops the worker at a
    checkpoint and records the end), the rest (the improver's evaluator, ...) by SIGTERM, then SIGKILL.

    Those processes run in sessions of their own (they must outlive a bot that restarts), so a terminal's
    Ctrl-C never reaches them; a second Ctrl-C while this runs is ignored, so nothing is left half-stopped.
    """
    import signal

    import psutil

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        started = psutil.Process().children(recursive=True)
        runner = _cancel_job(state)
        job = [p for p in started if runner and (p.pid == runner or _parent(p) == runner)]
        others = [p for p in started if p not in job]
        _signal_all(others, "terminate")
        psutil.wait_procs(job, timeout=state.settings.executor.cancel_grace_s + 5)
        _signal_all(started, "terminate")
        _, alive = psutil.wait_procs(started, timeout=5)
        _signal_all(alive, "kill")
        psutil.wait_procs(alive, timeout=5)
    finally:
        signal.signal(signal.SIGINT, previous)


def _cancel_job(state: DemoState) -> int | None:
    """Cancel the demo's training job if it still runs; its supervisor's pid."""
    from skills.jobs import JobManager

    job_id = state.values.get("job_id")
    if job_id is None:
        return None
    manager = JobManager(state.settings)
    try:
        job = manager.get(job_id)
        if job.done:
            return None
        manager.cancel(job_id)
        return job.runner_pid
    except SelftuneError:
        return None
    finally:
        manager.close()


def _parent(proc: Any) -> int | None:
    import psutil

    try:
        return int(proc.ppid())
    except psutil.Error:
        return None


def _signal_all(procs: list[Any], how: Literal["terminate", "kill"]) -> None:
    import psutil

    for proc in procs:
        try:
            getattr(proc, how)()
        except psutil.Error:  # already gone
            pass


def summary_table(results: list[StepResult], settings: Settings) -> Table:
    """The closing table: each step, its outcome, time and where its files are."""
    table = Table(title=f"selftune demo — state dir {settings.home}", show_lines=False)
    for column in ("step", "result", "s", "detail", "artifacts"):
        table.add_column(column, overflow="fold")
    for r in results:
        table.add_row(r.name, r.status, f"{r.seconds:.1f}", r.detail, "\n".join(r.artifacts.values()))
    return table
