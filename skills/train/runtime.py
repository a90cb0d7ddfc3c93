"""What SFT and DPO share: loading the base, the LoRA config, trainer arguments, event callbacks,
SIGTERM handling and the atomic output folder with its manifest."""

from __future__ import annotations

import json
import logging
import shutil
import signal
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from skills.train.events import EventEmitter
from skills.train.preflight import use_bf16
from skills.train.spec import TrainSpec

log = logging.getLogger(__name__)


def load_base(spec: TrainSpec, model_dir: Path, device: str) -> tuple[Any, Any]:
    """(model, tokenizer) ready for training; qlora loads the weights in 4-bit NF4."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    kwargs: dict[str, Any] = {"dtype": weights_dtype(spec, device)}
    if spec.method == "qlora":
        kwargs["quantization_config"] = _nf4_config(kwargs["dtype"])
        kwargs["device_map"] = {"": 0 if device == "cuda" else "cpu"}
    model = AutoModelForCausalLM.from_pretrained(model_dir, **kwargs)
    if spec.method == "qlora":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=_checkpointing(spec, device))
    return model, tokenizer


def weights_dtype(spec: TrainSpec, device: str) -> Any:
    """dtype the base weights are loaded in."""
    import torch

    bf16 = use_bf16(spec, device)
    if device == "cuda":
        return torch.bfloat16 if bf16 else torch.float16
    # On CPU frozen LoRA bases are stored in bf16 (half the memory, no cast per step); fully trained weights
    # stay fp32 because AdamW updates of ~1e-6 vanish in bf16's 8-bit mantissa, so full runs only autocast.
    return torch.bfloat16 if bf16 and spec.method != "full" else torch.float32


def _nf4_config(compute_dtype: Any) -> Any:
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=compute_dtype,
    )


def lora_config(spec: TrainSpec) -> Any:
    """PEFT LoraConfig from the spec; None for full fine-tuning."""
    if spec.method == "full":
        return None
    from peft import LoraConfig

    h = spec.hyper
    return LoraConfig(
        r=h.rank, lora_alpha=h.alpha, lora_dropout=h.dropout, target_modules=h.target_modules,
        bias="none", task_type="CAUSAL_LM",
    )


def _checkpointing(spec: TrainSpec, device: str) -> bool:
    # On CPU with small models recomputing activations only costs time (~20-30%); memory is plentiful.
    chosen = spec.hyper.gradient_checkpointing
    return (device == "cuda") if chosen is None else chosen


def common_args(spec: TrainSpec, device: str, has_eval: bool) -> dict[str, Any]:
    """TrainingArguments fields shared by SFTConfig and DPOConfig."""
    h = spec.hyper
    bf16 = use_bf16(spec, device)  # autocast: on CPU too, where the CPU has bf16 instructions
    return {
        "output_dir": str(spec.checkpoints), "max_steps": h.max_steps, "num_train_epochs": h.epochs,
        "per_device_train_batch_size": h.batch_size, "per_device_eval_batch_size": h.batch_size,
        "gradient_accumulation_steps": h.grad_accum, "learning_rate": h.learning_rate,
        "lr_scheduler_type": h.scheduler, "warmup_steps": h.warmup_ratio,  # < 1 means a ratio
        "logging_steps": h.logging_steps, "eval_strategy": "steps" if has_eval else "no",
        "eval_steps": h.eval_steps, "save_strategy": "steps", "save_steps": h.save_steps,
        "save_total_limit": 2, "seed": spec.seed, "data_seed": spec.seed,
        "use_cpu": device == "cpu", "bf16": bf16, "fp16": device == "cuda" and not bf16,
        "gradient_checkpointing": _checkpointing(spec, device), "disable_tqdm": True,
        "dataloader_num_workers": 0, "max_length": h.max_length, "logging_first_step": True,
        **_reporting(h.report_to), **(_best_kept(h) if stops_early(spec, has_eval) else {}),
    }


def stops_early(spec: TrainSpec, has_eval: bool) -> bool:
    """Early stopping needs an eval split to watch; patience 0 turns it off."""
    return has_eval and spec.hyper.early_stopping_patience > 0


def _best_kept(h: Any) -> dict[str, Any]:
    """TrainingArguments that keep the checkpoint with the lowest eval loss and load it when training ends: a
    checkpoint at every evaluation, so the best one exists to go back to."""
    return {"load_best_model_at_end": True, "metric_for_best_model": "eval_loss", "greater_is_better": False,
            "save_steps": h.eval_steps}


def early_stopping(spec: TrainSpec, has_eval: bool) -> list[Any]:
    """transformers' EarlyStoppingCallback at the spec's patience, or nothing when the run does not stop early."""
    from transformers import EarlyStoppingCallback

    patience = spec.hyper.early_stopping_patience
    return [EarlyStoppingCallback(early_stopping_patience=patience)] if stops_early(spec, has_eval) else []


def stopping_record(spec: TrainSpec, state: Any, planned: int, has_eval: bool) -> dict[str, Any]:
    """For the manifest: which step the adapter is (the best evaluation's, when early stopping kept it) and why
    training stopped."""
    if not stops_early(spec, has_eval):
        why = "no eval split, so no early stopping" if not has_eval else "early stopping is off (patience 0)"
        return {"adapter_step": state.global_step, "stopped": "planned steps", "reason": f"ran all steps; {why}"}
    best = state.best_global_step or state.global_step
    patience = spec.hyper.early_stopping_patience
    if state.global_step < planned:
        stopped, reason = "early", (f"eval loss did not improve for {patience} evaluations after step {best} "
                                    f"(stopped at step {state.global_step} of {planned})")
    else:
        stopped, reason = "planned steps", f"ran all {planned} steps; the best eval loss was at step {best}"
    return {"adapter_step": best, "best_eval_loss": state.best_metric, "stopped": stopped, "reason": reason,
            "early_stopping_patience": patience, "eval_steps": spec.hyper.eval_steps}


def _reporting(target: str | None) -> dict[str, Any]:
    """report_to for TrainingArguments: local files only (tensorboard under the checkpoints, trackio's local db)."""
    if target in (None, "none"):
        return {"report_to": []}
    extra = {"trackio_static_space_id": False} if target == "trackio" else {}  # never create a Hub Space
    return {"report_to": [target], **extra}


class StopFlag:
    """Set by SIGTERM; the trainer callback turns it into 'save a checkpoint, then stop'."""

    def __init__(self) -> None:
        self.requested = False

    def install(self) -> StopFlag:
        signal.signal(signal.SIGTERM, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.requested = True


class EventsCallback(TrainerCallback):
    """Turns trainer logs into progress/eval/checkpoint events, and SIGTERM into save-and-stop."""

    def __init__(self, emitter: EventEmitter, stop: StopFlag, *, budget_s: float | None = None,
                 step_delay_s: float = 0.0) -> None:
        self.emitter, self.stop = emitter, stop
        self.budget_s, self.step_delay_s = budget_s, step_delay_s
        self.started_step = 0
        self.t0 = self.t_last = time.monotonic()
        self.tokens_last = 0.0
        self.tokens_per_s: float | None = None

    def on_train_begin(self, args, state, control, **kwargs):  # noqa: ANN001, ANN201 - transformers hook
        self.started_step = state.global_step
        self.t0 = self.t_last = time.monotonic()

    def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001, ANN201
        if self.step_delay_s:
            time.sleep(self.step_delay_s)
        if self.stop.requested:
            control.should_save = True
            control.should_training_stop = True
        elif self._over_budget(state) and not control.should_training_stop:
            control.should_training_stop = True  # a normal end: the adapter is written from the steps done
        return control

    def _over_budget(self, state: Any) -> bool:
        """Past the time budget before the last step; says so once, with the measured step time."""
        elapsed = time.monotonic() - self.t0
        if self.budget_s is None or elapsed < self.budget_s or state.global_step >= state.max_steps:
            return False
        done = max(state.global_step - self.started_step, 1)
        self.emitter.message(f"time budget of {self.budget_s:.0f} s reached after step {state.global_step} of "
                             f"{state.max_steps} ({elapsed / done:.1f} s per step here); the adapter is written "
                             "from the steps done")
        return True

    def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001, ANN201
        logs = logs or {}
        if "eval_loss" in logs:
            self.emitter.emit("eval", step=state.global_step, eval_loss=logs["eval_loss"])
        elif "loss" in logs:
            self.emitter.emit("progress", **self._progress(state, logs))

    def _progress(self, state: Any, logs: dict[str, Any]) -> dict[str, Any]:
        now = time.monotonic()
        tokens = float(logs.get("num_tokens", 0.0))
        if tokens > self.tokens_last and now > self.t_last:
            self.tokens_per_s = (tokens - self.tokens_last) / (now - self.t_last)
        self.t_last, self.tokens_last = now, tokens
        done = state.global_step - self.started_step
        eta = (now - self.t0) / done * (state.max_steps - state.global_step) if done > 0 else None
        return {
            "step": state.global_step, "max_steps": state.max_steps, "loss": logs["loss"],
            "lr": logs.get("learning_rate"), "tokens_per_s": self.tokens_per_s, "eta_s": eta,
            "epoch": logs.get("epoch"),
        }

    def on_save(self, args, state, control, **kwargs):  # noqa: ANN001, ANN201
        path = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        self.emitter.emit("checkpoint", step=state.global_step, path=str(path))


def last_checkpoint(spec: TrainSpec) -> str | None:
    """The newest complete checkpoint folder of this job, if any (resume point)."""
    from transformers.trainer_utils import get_last_checkpoint

    folder = spec.checkpoints
    return get_last_checkpoint(str(folder)) if folder.is_dir() else None


def ran_with(model: Any, backend: str, device: str, spec: TrainSpec) -> dict[str, Any]:
    """What trained the adapter: backend (unsloth or trl+peft), device, weight dtype and quantization."""
    import torch

    dtype = str(getattr(model, "dtype", "") or "").removeprefix("torch.")
    four_bit = backend == "unsloth" or spec.method == "qlora"  # both load the base in 4-bit NF4
    return {"backend": "unsloth" if backend == "unsloth" else "trl+peft", "device": device, "dtype": dtype,
            "quantization": "nf4 4-bit" if four_bit else None, "torch": torch.__version__}


def write_output(spec: TrainSpec, trainer: Any, tokenizer: Any, metrics: dict[str, Any], files: Any = None,
                 events: list[dict[str, Any]] | None = None, ran: dict[str, Any] | None = None,
                 stopping: dict[str, Any] | None = None) -> Path:
    """Save adapter (or full model) + tokenizer + card + manifest + split + events into a temp sibling, then rename.

    `stopping` (the manifest's record of which step the adapter is and why training stopped) comes from
    stopping_record."""
    dest = spec.output_dir
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        trainer.model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        data = _keep_split(files, tmp, dest)
        manifest = {**build_manifest(spec, metrics, data), "runtime": ran, "stopping": stopping}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        (tmp / "README.md").write_text(model_card(spec, manifest), encoding="utf-8")
        # The job's events travel with the adapter, so a report draws the loss curves without the job store.
        (tmp / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events or []), encoding="utf-8")
        spec.save(tmp / "train_spec.json")
        tmp.rename(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _keep_split(files: Any, tmp: Path, dest: Path) -> dict[str, Any]:
    """Copy a split selftune made into <adapter>/data/ and describe train and eval files (path, sha256, rows),
    and how many training rows were given the persona's system prompt (`system_prompt_added`)."""
    if files is None:
        return {"train_dataset": None, "eval_dataset": None}
    added = {"system_prompt_added": files.system_prompt_added} if getattr(files, "system_prompt_added", 0) else {}
    replay = {"replay": files.replay} if getattr(files, "replay", None) else {}
    return {**_split_record(files, tmp, dest), **added, **replay}


def _split_record(files: Any, tmp: Path, dest: Path) -> dict[str, Any]:
    """The train and eval files' records, copying a split selftune made into <adapter>/data/."""
    from skills.dataset.provenance import copy_manifest

    train, held_out = files.train, files.eval
    if files.split:
        (tmp / "data").mkdir()
        for source in (train, held_out):
            shutil.copy2(source, tmp / "data" / source.name)
            # The rows' message ids travel with the copy, so forgetting a message reaches it too.
            copy_manifest(source, tmp / "data" / source.name, named=dest / "data" / source.name)
        train, held_out = dest / "data" / train.name, dest / "data" / held_out.name
        return {"train_dataset": _file_record(train, tmp / "data" / train.name),
                "eval_dataset": _file_record(held_out, tmp / "data" / held_out.name), "split": "made before training"}
    return {"train_dataset": _file_record(train, train),
            "eval_dataset": _file_record(held_out, held_out) if held_out else None,
            "split": "given eval_dataset" if held_out else "none (too few distinct prompts or eval_split = 0)"}


def _file_record(path: Path, readable: Path) -> dict[str, Any]:
    """path (where it will be), sha256 and row count (read from where it is now)."""
    from skills.train.spec import sha256_file

    with open(readable, "rb") as fh:
        rows = sum(1 for line in fh if line.strip())
    return {"path": str(path), "sha256": sha256_file(readable), "rows": rows}


def build_manifest(spec: TrainSpec, metrics: dict[str, Any], data: dict[str, Any] | None = None) -> dict[str, Any]:
    """The registry's record of an adapter (design: Jobs): lineage, data it saw and data it was measured on."""
    return {
        "name": spec.name, "version": spec.version, "id": spec.adapter_id, "base_model": spec.base_model,
        "method": spec.method, "dataset": str(spec.dataset), "dataset_sha256": spec.dataset_sha256,
        "recipe": spec.recipe, "persona": spec.persona, "system_prompt": spec.system_prompt, "job_id": spec.job_id,
        "hyper": spec.hyper.model_dump(), "metrics": metrics, "parent": spec.parent,
        "kind": "model" if spec.method == "full" else "adapter",
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **(data or {"train_dataset": None, "eval_dataset": None}),
    }


def model_card(spec: TrainSpec, manifest: dict[str, Any]) -> str:
    """A short Hugging Face model card (README.md) with base model, data, recipe and metrics."""
    metrics = "\n".join(f"| {k} | {v} |" for k, v in manifest["metrics"].items())
    hyper = ", ".join(f"{k}={v}" for k, v in spec.hyper.model_dump().items())
    library = "" if spec.method == "full" else "library_name: peft\n"
    return (
        f"---\nbase_model: {spec.base_model}\n{library}tags: [selftune, {spec.method}, trl]\n---\n\n"
        f"# {spec.adapter_id}\n\nTrained by selftune with method **{spec.method}** from recipe "
        f"`{spec.recipe}`{f' for persona `{spec.persona}`' if spec.persona else ''}.\n\n"
        f"- Base model: `{spec.base_model}`\n- Data: `{spec.dataset.name}` (sha256 `{spec.dataset_sha256[:16]}…`)\n"
        f"- Parent: {spec.parent or 'none'}\n- Hyperparameters: {hyper}\n\n"
        f"## Metrics\n\n| metric | value |\n|---|---|\n{metrics}\n"
    )


def load_unsloth(spec: TrainSpec, model_dir: Path) -> tuple[Any, Any]:
    """Unsloth's patched model with LoRA already applied (CUDA only; chosen by preflight.pick_backend)."""
    from unsloth import FastLanguageModel  # type: ignore[import-not-found]

    h = spec.hyper
    model, tokenizer = FastLanguageModel.from_pretrained(
        model_name=str(model_dir), max_seq_length=h.max_length, load_in_4bit=spec.method == "qlora",
    )
    targets = h.target_modules
    if targets == "all-linear":
        targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    model = FastLanguageModel.get_peft_model(
        model, r=h.rank, lora_alpha=h.alpha, lora_dropout=h.dropout, target_modules=targets,
        use_gradient_checkpointing="unsloth", random_state=spec.seed,
    )
    return model, tokenizer


def preference_trainer(trainer_cls: Any, config_cls: Any, spec: Any, model: Any, tokenizer: Any, train: list[dict],
                       held_out: list[dict], device: str, callbacks: list[Any], peft: bool = True) -> Any:
    """A TRL preference trainer (DPO, KTO) over `train`; with PEFT the frozen base (adapter off) is the reference."""
    from datasets import Dataset

    from skills.train.loss import score_labelled_positions_only

    score_labelled_positions_only()
    args = config_cls(**common_args(spec, device, bool(held_out)), beta=spec.hyper.beta, dataset_num_proc=None)
    return trainer_cls(
        model=model,
        ref_model=None,
        args=args,
        train_dataset=Dataset.from_list(train),
        eval_dataset=Dataset.from_list(held_out) if held_out else None,
        processing_class=tokenizer,
        peft_config=lora_config(spec) if peft else None,
        callbacks=callbacks,
    )
