"""Evaluation and export as jobs on the executor: with `executor.kind = "ray"` they run on the GPU box (`trainer`
resource), which resolves the base model itself; the bot host ships the adapter (and eval data) and gets the
report or the exported files back."""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from config.errors import SelftuneError
from config.settings import Settings
from skills.evaluate.run import eval_data_of
from skills.jobs.manager import JobManager
from skills.jobs.store import Job
from skills.train.lookup import base_model_of, resolve_adapter

HEAVY_WORKER = ["-m", "skills.jobs.heavy_worker"]
POLL_S = 0.5
Progress = Callable[[dict[str, Any]], None]


def eval_spec(settings: Settings, adapter: str | Path, *, data: Path | None = None, limit: int = 32,
              use_judge: bool = False, against: str | None = None, persona: str | None = None) -> dict[str, Any]:
    """The job spec: adapter folder and eval data to ship, the base by its worker-side name, the report folder.

    For the promotion gate also what the worker cannot know: the adapter it is compared `against` (shipped too),
    the persona card (system prompt, style checks), the evaluator-only holdout and the judge's settings."""
    ref = resolve_adapter(adapter, settings)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    spec = {"kind": "eval", "name": f"eval-{ref.path.name}", "version": stamp, "adapter": str(ref.path),
            "adapter_id": ref.name, "dataset": str(eval_data_of(ref, data)), "limit": limit, "use_judge": use_judge,
            "base_model": base_model_of(ref, settings),
            "output_dir": str(settings.artifacts_dir / "reports" / f"{ref.path.name}-{stamp}"),
            "eval": settings.eval.model_dump(mode="json")}  # the host's evidence rules (set sizes, limits)
    if use_judge:
        spec["judge"] = settings.judge.model_dump(mode="json")
    if against and against != "base":
        spec["against_adapter"] = str(resolve_adapter(against, settings).path)
    return {**spec, **_persona_parts(settings, persona or ref.manifest.get("persona"), named=bool(persona))}


def _persona_parts(settings: Settings, persona: str | None, *, named: bool) -> dict[str, Any]:
    """The persona card and its evaluator-only holdout file, as the worker needs them (it has no workspace).

    A persona the user `named` must exist (one sentence, before any job); the manifest's may be gone."""
    from skills.evaluate.evaldata import holdout_file
    from skills.personas import list_personas, load_persona

    if named and persona:
        load_persona(settings.workspace_dir, persona)  # raises "There is no persona ..." when it does not exist
    if not persona or persona not in list_personas(settings.workspace_dir):
        return {}
    parts: dict[str, Any] = {"persona_card": load_persona(settings.workspace_dir, persona).model_dump(mode="json")}
    if (private := holdout_file(settings.holdout_dir, persona)) is not None:
        parts["holdout_dataset"] = str(private)
    return parts


def submit_eval(settings: Settings, adapter: str | Path, *, executor: str | None = None, data: Path | None = None,
                limit: int = 32, requester: str | None = None, use_judge: bool = False, against: str | None = None,
                persona: str | None = None) -> str:
    """Queue an evaluation job on the executor (default: settings.executor.kind); returns the job id."""
    spec = eval_spec(settings, adapter, data=data, limit=limit, use_judge=use_judge, against=against, persona=persona)
    return _submit(settings, spec, executor, requester)


def evaluate_on_executor(settings: Settings, adapter: str | Path, *, against: str | None, persona: str | None,
                         use_judge: bool, data: Path | None = None, limit: int = 32, requester: str = "gate",
                         progress: Progress | None = None, timeout_s: float = 3600) -> dict[str, Any]:
    """Run the evaluation as a job on the executor and wait: the report document comes back, and its gate is
    decided again here, with this host's eval settings (what gets promoted is the host's policy, not the GPU box's)."""
    from skills.evaluate import gate

    job_id = submit_eval(settings, adapter, data=data, limit=limit, use_judge=use_judge, against=against,
                         persona=persona, requester=requester)
    report = fetched_report(wait_relaying(settings, job_id, progress, timeout_s))
    if report.get("judge"):  # the judge's calibration too is judged by this host's limits
        from skills.evaluate.judge import calibrate

        report["judge"] = calibrate(report["judge"], settings.eval.judge_max_position_bias,
                                    settings.eval.judge_max_disagreement)
    if "gate" in report:
        report["gate"] = gate.decide(report, min_rows=settings.eval.min_rows,
                                     max_forgetting=settings.eval.max_forgetting).model_dump()
    return {**report, "job_id": job_id}


def evaluate_where_configured(settings: Settings, adapter: str | Path, *, against: str = "base",
                              data: Path | None = None, persona: str | None = None, limit: int = 32,
                              use_judge: bool = True, progress: Progress | None = None) -> dict[str, Any]:
    """`eval.run` (Discord /eval, chat): on this machine, or with executor.kind = "ray" as a job on the GPU box."""
    if settings.executor.kind == "local":
        from skills.evaluate.run import evaluate_adapter

        return evaluate_adapter(settings, adapter, against=against, data=data, persona=persona, limit=limit,
                                use_judge=use_judge, progress=progress)
    _say(progress, f"evaluating as a job on the GPU box (executor {settings.executor.kind})")
    return evaluate_on_executor(settings, adapter, against=against, persona=persona, use_judge=use_judge, data=data,
                                limit=limit, requester="eval", progress=progress)


def wait_relaying(settings: Settings, job_id: str, progress: Progress | None = None,
                  timeout_s: float | None = None) -> Job:
    """Wait for a heavy job to end, passing its progress messages on (a chat's status line); the finished job."""
    manager = JobManager(settings)
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    seen = 0
    try:
        while True:
            job = manager.get(job_id)
            for event in manager.events(job_id, after=seen) if progress is not None else []:
                seen = event["seq"]
                if event.get("event") == "message" and event.get("message"):
                    _say(progress, str(event["message"]))
            if job.done or (deadline is not None and time.monotonic() > deadline):
                return job
            time.sleep(POLL_S)
    finally:
        manager.close()


def _say(progress: Progress | None, message: str) -> None:
    if progress is not None:
        progress({"event": "message", "message": message})


def export_spec(settings: Settings, adapter: str | Path, to: str, quant: str | None = None) -> dict[str, Any]:
    """The job spec: the adapter to ship, the export target and type, the folder the files come back to."""
    ref = resolve_adapter(adapter, settings)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return {"kind": "export", "name": f"export-{ref.path.name}", "version": stamp, "adapter": str(ref.path),
            "adapter_id": ref.name, "to": to, "quant": quant, "base_model": base_model_of(ref, settings),
            "output_dir": str(settings.artifacts_dir / "exports" / f"{ref.path.name}-{stamp}")}


def submit_export(settings: Settings, adapter: str | Path, to: str = "gguf", *, quant: str | None = "q8_0",
                  executor: str | None = None, requester: str | None = None, lora_only: bool = False) -> str:
    """Queue an export job (merged folder, GGUF, or with `lora_only` just the LoRA GGUF) on the executor;
    returns the job id."""
    spec = {**export_spec(settings, adapter, to, quant), **({"lora_only": True} if lora_only else {})}
    return _submit(settings, spec, executor, requester)


def lora_gguf_on_executor(settings: Settings, adapter: str | Path, timeout_s: float = 1800,
                          progress: Progress | None = None) -> Path:
    """The adapter as a LoRA GGUF made where the executor runs (the GPU box has the base model); only the
    GGUF (megabytes) comes back here."""
    job_id = submit_export(settings, adapter, "gguf", quant=None, requester="ollama", lora_only=True)
    return Path(fetched_export(wait_relaying(settings, job_id, progress, timeout_s))["path"])


def export_where_configured(settings: Settings, adapter: str | Path, to: str, *, name: str | None = None,
                            quant: str | None = None, out_dir: Path | None = None,
                            progress: Progress | None = None, timeout_s: float = 3600) -> dict[str, Any]:
    """`export.run` (Discord /export, chat, `export --to ollama`): on this machine, or with executor.kind = "ray"
    as a job on the GPU box. An Ollama model then is FROM the pulled model + the LoRA GGUF made on the box."""
    from skills.export.run import export_adapter

    if settings.executor.kind == "local":
        return export_adapter(settings, adapter, to, out_dir=out_dir, name=name, quant=quant,  # type: ignore[arg-type]
                              progress=progress)
    _say(progress, f"exporting as a job on the GPU box (executor {settings.executor.kind})")
    if to == "ollama":
        return ollama_on_executor(settings, adapter, name=name, out_dir=out_dir, progress=progress)
    job_id = submit_export(settings, adapter, to, quant=quant, requester="export")
    return fetched_export(wait_relaying(settings, job_id, progress, timeout_s), out_dir)


def ollama_on_executor(settings: Settings, adapter: str | Path, *, name: str | None = None,
                       out_dir: Path | None = None, progress: Progress | None = None) -> dict[str, Any]:
    """An Ollama model FROM the pulled model (ollama.base_model, or the persona card's) + the LoRA GGUF made on
    the GPU box: only the adapter (megabytes) comes here and goes to Ollama; no base GGUF anywhere."""
    from skills.export.run import export_onto_pulled, is_full_model
    from skills.providers.persona import pulled_base

    ref = resolve_adapter(adapter, settings)
    if is_full_model(ref):
        raise SelftuneError(f"{ref.name} is a full fine-tune; export it --to gguf and create the Ollama model from "
                            "that file (`ollama create NAME` with `FROM <file>.gguf`).")
    base = pulled_base(settings, ref.manifest.get("persona"))
    if base is None:
        raise SelftuneError("With the ray executor an Ollama model is made FROM the model you pulled in Ollama; set "
                            'ollama.base_model (e.g. "qwen3:8b"), or export with --executor local.')
    lora = lora_gguf_on_executor(settings, ref.path, progress=progress)
    if out_dir is not None and out_dir.resolve() != lora.parent.resolve():
        out_dir.mkdir(parents=True, exist_ok=True)
        lora = Path(shutil.copy2(lora, out_dir / lora.name))
    return export_onto_pulled(settings, ref, lora.parent, base, name, progress, lora=lora)


def _submit(settings: Settings, spec: dict[str, Any], executor: str | None, requester: str | None,
            worker: list[str] = HEAVY_WORKER) -> str:
    manager = JobManager(settings, worker=worker)
    try:
        return manager.submit(spec, executor, requester=requester)
    finally:
        manager.close()


def result_of_job(settings: Settings, spec: dict[str, Any], *, worker: list[str], executor: str | None = None,
                  requester: str, progress: Progress | None = None, timeout_s: float = 3600) -> Any:
    """Submit a spec whose worker writes result.json into the spec's output_dir, wait, and return the result
    (JSON) that came back: model work whose product is numbers and texts, not files."""
    job = wait_relaying(settings, _submit(settings, spec, executor, requester, worker), progress, timeout_s)
    return json.loads((fetched_folder(job) / "result.json").read_text(encoding="utf-8"))["result"]


def model_work_on_executor(settings: Settings, task: str, payload: dict[str, Any], *, requester: str,
                           adapter: str | Path | None = None, base_model: str | None = None,
                           progress: Progress | None = None, timeout_s: float = 3600) -> Any:
    """One piece of model work (`skills.jobs.heavy_worker`'s MODEL_TASKS: answers, forgetting, synth) as a job on
    the executor: the local base model (with `adapter` on it, shipped with the job) does it on the GPU box; the
    payload goes there and only the result (JSON) comes back. `base_model`: without an adapter, the model to use
    (default: settings.base_model), named as this host names it (executor.worker_base_models maps it)."""
    job = _model_job(settings, task, payload, requester=requester, adapter=adapter, base_model=base_model,
                     progress=progress, timeout_s=timeout_s)
    return json.loads((fetched_folder(job) / "result.json").read_text(encoding="utf-8"))["result"]


def _model_job(settings: Settings, task: str, payload: dict[str, Any], *, requester: str,
               adapter: str | Path | None, base_model: str | None, progress: Progress | None,
               timeout_s: float) -> Job:
    """Run a `model` job and wait; the finished job (its folder: result.json and any files it wrote)."""
    if adapter is not None:
        ref = resolve_adapter(adapter, settings)
        parts: dict[str, Any] = {"adapter": str(ref.path), "adapter_id": ref.name,
                                 "base_model": base_model_of(ref, settings)}
    else:
        parts = {"base_model": base_model or settings.base_model}
    stamp = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    spec = {"kind": "model", "task": task, "name": f"model-{task}", "version": stamp, "payload": payload, **parts,
            "output_dir": str(settings.artifacts_dir / "measurements" / f"{task}-{stamp}")}
    _say(progress, f"{task} as a job on the GPU box (executor {settings.executor.kind})")
    job_id = _submit(settings, spec, None, requester, HEAVY_WORKER)
    return wait_relaying(settings, job_id, progress, timeout_s)


def synth_on_executor(settings: Settings, task: str, items: list[Any], output: Path, *, system_prompt: str,
                      persona: str | None, max_rows: int, max_seconds: float, max_tokens: int,
                      sources: list[dict[str, Any]], options: dict[str, Any] | None = None,
                      plan: dict[str, Any] | None = None, timeout_s: float = 3600) -> dict[str, Any]:
    """Synthetic data by the local model on the GPU box (`dataset synth` with llm.provider = "local"): the items
    and the persona's system prompt go there, the dataset and its manifest come back to `output`. Each run starts
    afresh there (a stopped run is not resumed)."""
    from skills.dataset.manifest import manifest_path

    payload = {"task": task, "items": items, "file": Path(output).name, "system_prompt": system_prompt,
               "persona": persona, "max_rows": max_rows, "max_seconds": max_seconds, "max_tokens": max_tokens,
               "sources": sources, "options": options or {}, "plan": plan or {}}
    job = _model_job(settings, "synth", payload, requester="synth", adapter=None,
                     base_model=settings.llm.model or settings.base_model, progress=None, timeout_s=timeout_s)
    folder = fetched_folder(job)
    doc = json.loads((folder / "result.json").read_text(encoding="utf-8"))["result"]
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(folder / output.name, output)
    manifest = json.loads(manifest_path(folder / output.name).read_text(encoding="utf-8"))
    manifest_path(output).write_text(json.dumps({**manifest, "path": str(output)}, indent=2), encoding="utf-8")
    return {**doc, "path": str(output), "job_id": job.id}


def model_work_on_worker(settings: Settings) -> bool:
    """Whether model work goes to the executor (`executor.kind = "ray"`): the one switch for every step."""
    return settings.executor.kind != "local"


def fetched_folder(job: Job) -> Path:
    """The folder a succeeded eval/export job brought back to this machine; one sentence when it did not succeed."""
    kind = {"export": "export", "model": "model", "measure": "measurement"}.get(str(job.spec.get("kind")), "evaluation")
    if job.state == "succeeded" and job.adapter and Path(job.adapter).is_dir():
        return Path(job.adapter)
    if job.state == "succeeded":
        raise SelftuneError(f"The {kind} job {job.id} succeeded but its files did not arrive here; "
                            f"see `selftune jobs logs {job.id}`.")
    why = f"failed: {job.error}" if job.state == "failed" else f"ended {job.state}"
    raise SelftuneError(f"The {kind} job {job.id} {why.rstrip('.')}; see `selftune jobs logs {job.id}`.")


def fetched_report(job: Job) -> dict[str, Any]:
    """The evaluation report of a finished eval job, its file paths pointing into the fetched folder."""
    folder = fetched_folder(job)
    doc = json.loads((folder / "eval.json").read_text(encoding="utf-8"))
    doc["report"] = {key: str(folder / Path(path).name) for key, path in (doc.get("report") or {}).items()}
    if "adapter_path" in doc:  # the worker's copy of the shipped adapter; here it is the host's folder
        doc["adapter_path"] = job.spec.get("adapter", doc["adapter_path"])
    return doc


def fetched_export(job: Job, out: Path | None = None) -> dict[str, Any]:
    """The export document of a finished export job (copied into `out` when given), paths pointing here."""
    folder = fetched_folder(job)
    if out is not None:
        shutil.copytree(folder, out, dirs_exist_ok=True)
        folder = out
    doc = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    doc["path"] = str(folder / Path(doc["path"]).name)
    doc["job_id"] = job.id
    if doc.get("base_gguf"):  # a LoRA GGUF applies on the base GGUF, which stayed on the worker
        doc["base_gguf_on_worker"] = doc.pop("base_gguf")
    return doc
