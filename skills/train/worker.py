"""`python -m skills.train.worker SPEC.json`: run one training job, emitting JSON-line events on stdout.

Exit 0 on success, 1 on failure (with an `error` event), 143 after SIGTERM once a checkpoint is saved.
Restarted with the same spec, it resumes from the newest checkpoint in spec.checkpoints.
"""

from __future__ import annotations

import logging
import math
import shutil
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from config.errors import SelftuneError
from skills.train.events import EventEmitter, claim_stdout
from skills.train.spec import TrainSpec, sha256_file

log = logging.getLogger("skills.train.worker")
EXIT_TERMINATED = 143  # 128 + SIGTERM, what shells and job runners expect


class JobStopped(Exception):
    """SIGTERM arrived; a checkpoint (if training had begun) is on disk."""


def check_spec(spec: TrainSpec) -> None:
    """The output must not exist yet, and the data must be the data the spec was built from."""
    from skills.train.preflight import PreflightError

    if (spec.output_dir / "manifest.json").is_file():
        raise PreflightError(f"Adapter {spec.adapter_id} already exists at {spec.output_dir}; use a new version.")
    if spec.dataset_sha256 and spec.dataset.is_file() and sha256_file(spec.dataset) != spec.dataset_sha256:
        raise PreflightError(
            f"Dataset {spec.dataset} changed since the job was created (sha256 differs); submit the job again."
        )


def preflight(spec: TrainSpec, emitter: EventEmitter, models_dir: Path) -> tuple[str, str, Path]:
    """Device, backend, base model folder, target modules and memory: all checked before loading weights."""
    from skills.models import lora_targets, resolve_base_model
    from skills.train import preflight as pf

    check_spec(spec)
    device = pf.pick_device(spec)
    backend = pf.pick_backend(spec, device)
    emitter.message(f"backend {backend} on {device} (method {spec.method}, base {spec.base_model})")
    model_dir = resolve_base_model(spec.base_model, models_dir)
    spec.hyper.target_modules = lora_targets(model_dir, spec.hyper.target_modules)  # per architecture
    skeleton = pf.meta_model(model_dir)
    pf.check_target_modules(spec, skeleton)
    need = pf.check_memory(spec, skeleton, device)
    log.info("estimated peak memory %.2f GiB", need / pf.GIB)
    return device, backend, model_dir


def load_data(spec: TrainSpec) -> tuple[tuple[list[dict], list[dict]], Any]:
    """Validated (train rows, held-out rows) and the files they came from (eval_dataset, else a duplicate-aware split)."""
    from skills.train.data import data_files, kind_of, load_rows, with_system_prompt

    kind = kind_of(spec.method)
    load_rows(spec.dataset, kind)  # the whole file is checked, so a bad row names its line in the user's file
    files = data_files(spec, spec.checkpoints / "split")
    held_out = load_rows(files.eval, kind) if files.eval is not None else []
    rows = load_rows(files.train, kind)
    if spec.persona and spec.system_prompt:  # served under the card's prompt, so trained (and measured) under it
        rows, added = with_system_prompt(rows, spec.system_prompt)
        held_out, _ = with_system_prompt(held_out, spec.system_prompt)
        files = replace(files, system_prompt_added=added)
    return (rows, held_out), files


def with_replay(spec: TrainSpec, data: tuple, files: Any, model_dir: Path, models_dir: Path,
                emitter: EventEmitter, device: str = "cpu") -> tuple[tuple, Any]:
    """Training rows with the base model's general replay mixed in at the spec's share (held-out rows untouched)."""
    from skills.train.replay import add_replay

    train_rows, held_out = data
    mixed, replay = add_replay(spec, train_rows, model_dir, models_dir, emitter.message, device)
    if replay is None:
        return data, files
    emitter.message(f"replay: {replay.rows} general rows mixed in ({replay.share:.0%} of {len(mixed)} training rows)")
    return (mixed, held_out), replace(files, replay=replay.record())


def build(spec: TrainSpec, device: str, backend: str, model_dir: Path, data: tuple, callbacks: list) -> tuple:
    """(trainer, tokenizer) for the spec's method and backend."""
    from skills.train import dpo, kto, runtime, sft

    fresh = spec.init_adapter is None
    if backend == "unsloth" and fresh:
        model, tokenizer = runtime.load_unsloth(spec, model_dir)
    else:
        model, tokenizer = runtime.load_base(spec, model_dir, device)
    if not fresh:  # a later stage (DPO/KTO after SFT) goes on training the earlier stage's adapter
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(spec.init_adapter), is_trainable=True)
    method = {"dpo": dpo, "kto": kto}.get(spec.method, sft)
    trainer = method.build_trainer(spec, model, tokenizer, *data, device, callbacks, peft=backend != "unsloth" and fresh)
    return trainer, tokenizer


def _check_rows_fit(spec: TrainSpec, data: tuple, trainer: Any) -> None:
    """One sentence instead of an IndexError deep in transformers when the trainer dropped every row of a split:
    rows whose answer starts past max_length tokens (a long system prompt, a long question) teach nothing."""
    for name, given, kept in (("training", data[0], trainer.train_dataset), ("held-out", data[1], trainer.eval_dataset)):
        if given and kept is not None and len(kept) == 0:
            raise SelftuneError(
                f"None of the {len(given)} {name} rows has its answer within max_length ({spec.hyper.max_length} "
                "tokens) once the system prompt and question are in; raise the recipe's hyper.max_length or shorten "
                "the rows.")


def planned_steps(trainer: Any, spec: TrainSpec) -> int:
    """Optimizer steps the run will take (max_steps, or epochs over the packed dataloader)."""
    if spec.hyper.max_steps > 0:
        return spec.hyper.max_steps
    batches = len(trainer.get_train_dataloader())
    return max(1, math.ceil(batches / spec.hyper.grad_accum) * math.ceil(spec.hyper.epochs))


def train(spec: TrainSpec, emitter: EventEmitter, models_dir: Path, stop: Any,
          step_delay_s: float = 0.0) -> dict[str, Any]:
    """The whole job; returns the `done` event's fields."""
    from skills.train.runtime import (
        EventsCallback,
        early_stopping,
        last_checkpoint,
        ran_with,
        stopping_record,
        write_output,
    )

    device, backend, model_dir = preflight(spec, emitter, models_dir)
    data, files = load_data(spec)
    data, files = with_replay(spec, data, files, model_dir, models_dir, emitter, device)
    callback = EventsCallback(emitter, stop, budget_s=spec.hyper.max_seconds, step_delay_s=step_delay_s)
    trainer, tokenizer = build(spec, device, backend, model_dir, data, [callback, *early_stopping(spec, bool(data[1]))])
    _check_rows_fit(spec, data, trainer)
    resume = last_checkpoint(spec)
    resumed_from = int(Path(resume).name.split("-")[-1]) if resume else None
    planned = planned_steps(trainer, spec)
    emitter.emit("start", max_steps=planned, resumed_from=resumed_from,
                 train_rows=len(data[0]), eval_rows=len(data[1]), backend=backend, device=device)
    if stop.requested:
        raise JobStopped
    base_eval = trainer.evaluate()["eval_loss"] if data[1] and resume is None else None
    result = trainer.train(resume_from_checkpoint=resume)
    if stop.requested:
        raise JobStopped
    metrics = final_metrics(trainer, result, base_eval, callback)
    stopping = stopping_record(spec, trainer.state, planned, bool(data[1]))
    metrics["adapter_step"] = stopping["adapter_step"]
    if stopping["stopped"] == "early":
        emitter.message(f"stopped early: {stopping['reason']}; the adapter is the checkpoint of step "
                        f"{stopping['adapter_step']}")
    adapter_dir = write_output(spec, trainer, tokenizer, metrics, files, earlier_events(spec) + emitter.history,
                               ran_with(trainer.model, backend, device, spec), stopping)
    shutil.rmtree(spec.checkpoints, ignore_errors=True)  # the finished adapter supersedes them
    return {"adapter_dir": str(adapter_dir), "adapter_id": spec.adapter_id, "metrics": metrics}


def earlier_events(spec: TrainSpec) -> list[dict[str, Any]]:
    """Progress and eval events of this job's earlier attempts (a resumed job's loss curve still starts at step 1).

    The job manager keeps one `attempt-N.events.jsonl` per attempt beside the job's checkpoints; the newest is
    this attempt's own stdout, already in the emitter's history.
    """
    from skills.train.events import parse_events

    folder = spec.checkpoints.parent
    attempts = sorted(folder.glob("attempt-*.events.jsonl"), key=lambda p: int(p.name.split(".")[0].split("-")[-1]))
    return [e for path in attempts[:-1] for e in parse_events(path.read_text(encoding="utf-8", errors="replace"))
            if e["event"] in ("progress", "eval")]


def final_metrics(trainer: Any, result: Any, base_eval: float | None, callback: Any) -> dict[str, Any]:
    """train_loss, eval_loss (held-out, after training), base_eval_loss, tokens_per_s, steps."""
    eval_loss = trainer.evaluate()["eval_loss"] if trainer.eval_dataset is not None else None
    tokens = max((log.get("num_tokens", 0) for log in trainer.state.log_history), default=0)
    runtime = result.metrics.get("train_runtime") or 0.0
    metrics = {
        "train_loss": result.training_loss, "eval_loss": eval_loss, "steps": trainer.state.global_step,
        "tokens_per_s": tokens / runtime if tokens and runtime else callback.tokens_per_s,
        "train_tokens": tokens, "train_runtime_s": runtime,
    }
    if base_eval is not None:
        metrics["base_eval_loss"] = base_eval
    return metrics


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse SPEC path, run, translate outcomes into events and exit codes."""
    from skills.train.runtime import StopFlag

    argv = sys.argv[1:] if argv is None else argv
    emitter = EventEmitter(claim_stdout())
    stop = StopFlag().install()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    if len(argv) != 1:
        emitter.emit("error", message="Usage: python -m skills.train.worker SPEC.json")
        return 2
    return run(Path(argv[0]), emitter, stop)


def run(spec_path: Path, emitter: EventEmitter, stop: Any, models_dir: Path | None = None) -> int:
    """Run a spec file; never raises (errors become an `error` event + exit 1)."""
    from config.settings import load_settings

    try:
        spec = TrainSpec.load(spec_path)
        settings = load_settings()
        done = train(spec, emitter, models_dir or settings.models_dir, stop, settings.train.step_delay_s)
    except JobStopped:
        emitter.message("stopped by SIGTERM; the last checkpoint is kept and the job resumes from it")
        return EXIT_TERMINATED
    except SelftuneError as exc:
        emitter.emit("error", message=str(exc))
        return 1
    except Exception as exc:  # our bug or a library failure: the user gets one line, the log the traceback
        log.exception("training failed")
        emitter.emit("error", message=f"Training failed: {type(exc).__name__}: {exc}".splitlines()[0])
        return 1
    emitter.emit("done", **done)
    summary = {**done["metrics"], "adapter_dir": done["adapter_dir"]}
    for key, value in summary.items():  # nanoGPT-style summary an evaluator can grep
        print(f"{key}: {value}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
