"""TrainSpec: everything one training job needs, and recipes (TOML) that fill it in.

A recipe is `recipes/<name>.toml` in the workspace (shipped defaults are copied there on init):
top-level `method`, `description`, optional `base_model`, and a `[hyper]` table of Hyper fields.
"""

from __future__ import annotations

import hashlib
import importlib.util
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from config.errors import ConfigError, NotFound, UsageError
from config.names import check_name, check_names, name_problem
from skills.train.versions import peek_version

DEFAULT_RECIPES = Path(__file__).resolve().parent.parent.parent / "config" / "defaults" / "recipes"
Method = Literal["lora", "qlora", "dpo", "kto", "full"]
ReportTo = Literal["none", "tensorboard", "trackio"]


class Hyper(BaseModel):
    """Hyperparameters, named the way TRL/PEFT users expect."""

    model_config = ConfigDict(extra="forbid")
    rank: int = Field(16, gt=0, description="LoRA rank r.")
    alpha: int = Field(32, gt=0, description="LoRA alpha (scale = alpha / rank).")
    dropout: float = Field(0.05, ge=0, lt=1, description="LoRA dropout.")
    target_modules: str | list[str] = Field("all-linear", description="'all-linear' or module names (q_proj, ...).")
    learning_rate: float = Field(2e-4, gt=0, description="Peak learning rate (2e-4 LoRA, 2e-5 full).")
    epochs: float = Field(1.0, gt=0, description="Passes over the data (ignored when max_steps > 0).")
    max_steps: int = Field(-1, description="Optimizer steps (at least 1); -1 means derive from epochs.")
    max_seconds: float | None = Field(
        None, gt=0, description="Time budget of the optimizer steps: once a step ends past it, training stops and the "
        "adapter is written from the steps done (a slow machine trains fewer steps instead of timing out); None: none.")
    batch_size: int = Field(4, gt=0, description="Sequences (or packed rows) per device step.")
    grad_accum: int = Field(1, gt=0, description="Gradient accumulation steps per optimizer step.")
    max_length: int = Field(1024, gt=8, description="Token length cap (packed row length with packing).")
    warmup_ratio: float = Field(0.03, ge=0, lt=1, description="Share of steps spent warming up the LR.")
    scheduler: str = Field("cosine", description="LR scheduler: linear, cosine, constant, ...")
    packing: bool = Field(True, description="Pack sequences padding-free (best-fit decreasing) into rows.")
    assistant_only_loss: bool = Field(True, description="Loss only on assistant tokens (SFT).")
    eval_steps: int = Field(50, gt=0, description="Evaluate the held-out split every N steps.")
    save_steps: int = Field(
        50, gt=0, description="Write a resumable checkpoint every N steps (every eval_steps instead while early "
        "stopping is on, so the best evaluation's checkpoint exists).")
    logging_steps: int = Field(5, gt=0, description="Emit a progress event every N steps.")
    eval_split: float = Field(0.1, ge=0, lt=1, description="Share held out when no eval_dataset is given.")
    early_stopping_patience: int = Field(
        3, ge=0, description="With an eval split: stop after this many evaluations (every eval_steps) without a lower "
        "eval loss, and keep the best checkpoint as the adapter (the manifest's training section says which step and "
        "why it stopped); 0: train all steps. Runs with no eval split never stop early.")
    beta: float = Field(0.1, gt=0, description="DPO/KTO temperature (strength of the preference).")
    gradient_checkpointing: bool | None = Field(
        None, description="Trade compute for memory; None: chosen by the pre-flight memory estimate."
    )
    bf16: bool | None = Field(
        None, description="Compute in bfloat16; None: on CUDA, and for SFT on CPUs with AVX512-BF16/AMX (DPO/KTO keep fp32).")
    report_to: ReportTo | None = Field(
        None, description="Training curves: none, tensorboard or trackio (local files); None: the train.report_to setting.")

    @field_validator("max_steps")
    @classmethod
    def _steps_or_epochs(cls, value: int) -> int:
        # -1 is the one "train by epochs" marker; 0 or -5 would otherwise be read as epochs without a word.
        if value != -1 and value < 1:
            raise ValueError(f"must be at least 1 (got {value}); leave it out to train for the recipe's epochs")
        return value


class TrainSpec(BaseModel):
    """One training job, written to SPEC.json and read by `python -m skills.train.worker`."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="Adapter name (registry folder), e.g. 'pirate-lora'.")
    version: str = Field("v1", description="Adapter version inside the name's folder.")
    base_model: str = Field("smollm2", description="'smollm2', 'gemma3-270m', 'tiny', a Hugging Face model folder or a cached Hub id.")
    method: Method = Field("lora", description="lora | qlora | dpo | kto | full.")
    dataset: Path = Field(description="Canonical JSONL: messages rows (SFT) or prompt/chosen/rejected (DPO).")
    dataset_sha256: str = Field("", description="sha256 of the dataset file (checked before training).")
    dataset_rows: int = Field(0, ge=0, description="Training rows counted at submit (checked against train.min_rows).")
    eval_dataset: Path | None = Field(None, description="Held-out JSONL; else eval_split of dataset is held out.")
    output_dir: Path = Field(description="Final adapter folder; appears only when complete.")
    checkpoint_dir: Path | None = Field(
        None, description="Checkpoints (the job manager sets <job folder>/checkpoints; default: <output_dir>.ckpt).")
    hyper: Hyper = Field(default_factory=Hyper)
    seed: int = Field(42, description="Seed for data order, init and dropout.")
    backend: Literal["auto", "trl", "unsloth"] = Field("auto", description="auto: unsloth on CUDA when installed.")
    device: Literal["auto", "cpu", "cuda", "mps"] = Field(
        "auto", description="auto: CUDA when present, else Apple's mps, else CPU (the manifest's runtime.device says which ran).")
    persona: str | None = Field(None, description="Persona this adapter is trained for.")
    recipe: str | None = Field(None, description="Recipe the spec was built from.")
    parent: str | None = Field(None, description="Adapter id this one continues from (manifest lineage).")
    init_adapter: Path | None = Field(
        None, description="Adapter folder whose weights this job continues training (a DPO/KTO stage after SFT).")
    job_id: str | None = Field(None, description="Job that trains it (set by the job manager; recorded in the manifest).")
    system_prompt: str | None = Field(None, description="The persona's system prompt at submit (export writes it).")
    replay_general_share: float = Field(
        0.0, ge=0, le=0.9, description="Share of the final training rows that are the base model's own answers to "
        "general prompts (persona SFT only; default: the train.replay_general_share setting).")

    @field_validator("name", "version", "persona", "recipe")
    @classmethod
    def _is_a_name(cls, value: str | None, info: ValidationInfo) -> str | None:
        """These become folder names under artifacts/adapters, so they must be names, never paths."""
        problem = None if value is None else name_problem(value, "adapter" if info.field_name == "name" else str(info.field_name))
        if problem:
            raise ValueError(problem)
        return value

    @property
    def adapter_id(self) -> str:
        return f"{self.name}/{self.version}"

    @property
    def checkpoints(self) -> Path:
        return self.checkpoint_dir or self.output_dir.with_name(self.output_dir.name + ".ckpt")

    def save(self, path: Path) -> Path:
        """Write the spec as JSON."""
        path.write_text(self.model_dump_json(indent=2), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: Path) -> TrainSpec:
        """Read a SPEC.json with a one-sentence error when it is unreadable or invalid."""
        try:
            return cls.model_validate_json(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise NotFound(f"Cannot read training spec {path}: {exc.strerror}.") from None
        except ValidationError as exc:
            raise ConfigError(f"Training spec {path} is invalid: {_first_error(exc)}.") from None


def _first_error(exc: ValidationError) -> str:
    """The first problem, with the field's help text so the fix is in the same sentence."""
    err = exc.errors()[0]
    loc = [str(p) for p in err["loc"]]
    help_text = field_help(loc)
    return f"{'.'.join(loc)}: {err['msg']}" + (f" ({help_text.rstrip('.')})" if help_text else "")


def field_help(loc: list[str]) -> str:
    """The description of a TrainSpec/Recipe field given its dotted location (hyper.rank, seed, ...)."""
    if len(loc) >= 2 and loc[0] == "hyper" and loc[1] in Hyper.model_fields:
        return Hyper.model_fields[loc[1]].description or ""
    if loc and loc[0] in TrainSpec.model_fields:
        return TrainSpec.model_fields[loc[0]].description or ""
    return ""


class Recipe(BaseModel):
    """A recipe file: method + hyperparameters (+ optional base model)."""

    model_config = ConfigDict(extra="forbid")
    description: str = ""
    method: Method = "lora"
    base_model: str | None = None
    hyper: Hyper = Field(default_factory=Hyper)


def recipe_dirs(settings: Any) -> list[Path]:
    """Where recipes are looked up: the workspace first, then the shipped defaults."""
    return [settings.workspace_dir / "recipes", DEFAULT_RECIPES]


def list_recipes(settings: Any) -> list[str]:
    """Names of all recipes visible to these settings."""
    return sorted({p.stem for d in recipe_dirs(settings) for p in d.glob("*.toml")})


def load_recipe(settings: Any, name: str) -> Recipe:
    """Read recipes/<name>.toml (workspace overrides the shipped default)."""
    return read_recipe(recipe_path(settings, name))


def recipe_path(settings: Any, name: str) -> Path:
    """The file of a named recipe: the workspace's copy first, then the shipped default."""
    check_name(name, "recipe")
    path = next((d / f"{name}.toml" for d in recipe_dirs(settings) if (d / f"{name}.toml").is_file()), None)
    if path is None:
        known = ", ".join(list_recipes(settings)) or "none"
        raise NotFound(f"There is no recipe '{name}' (known: {known}); add recipes/{name}.toml to the workspace "
                       f"or run `selftune recipes new {name}`.")
    return path


def read_recipe(path: Path) -> Recipe:
    """Parse and validate one recipe file, with a one-sentence error naming the file."""
    try:
        return Recipe.model_validate(tomllib.loads(Path(path).read_text(encoding="utf-8")))
    except OSError as exc:
        raise NotFound(f"Cannot read recipe {path}: {exc.strerror}; check the path.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"Recipe {path} is not valid TOML: {exc}; fix the file.") from None
    except ValidationError as exc:
        raise ConfigError(f"Recipe {path} is invalid: {_first_error(exc)}; fix the file.") from None


def parse_sets(pairs: list[str]) -> dict[str, Any]:
    """`--set key=value` pairs as flat training overrides; values are TOML literals (1e-4, true, "x"), else text."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"--set {pair!r} is not key=value; write e.g. --set hyper.learning_rate=1e-4.")
        field = key.removeprefix("hyper.")
        if field not in Hyper.model_fields and (key.startswith("hyper.") or field not in _SETTABLE):
            raise UsageError(f"--set {key}: there is no such training option; options are hyper.<{', '.join(Hyper.model_fields)}> "
                             f"and {', '.join(sorted(_SETTABLE))}.")
        try:
            out[field] = tomllib.loads(f"v = {raw.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            out[field] = raw.strip()  # a bare word such as cosine or tensorboard
    return out


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, streamed."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def owner_dataset(settings: Any, persona: str) -> Path:
    """The persona's own dataset: training without --dataset uses it, and every nightly retrain starts from it."""
    return settings.artifacts_dir / "datasets" / f"{persona}.jsonl"


def _default_dataset(settings: Any, persona: str | None) -> Path:
    candidate = owner_dataset(settings, persona or "")
    if persona and candidate.is_file():
        return candidate
    raise UsageError(
        "No dataset was given for training; pass a canonical JSONL file (dataset=PATH / --dataset PATH) "
        "or build one first with `selftune dataset build`."
    )


# TrainSpec fields a user may set by hand; the rest (dataset sha, output folder) are derived at submit.
_SETTABLE = {"name", "base_model", "method", "seed", "backend", "device", "eval_dataset", "parent",
             "replay_general_share"}


def _split_overrides(overrides: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Overrides name either TrainSpec fields or Hyper fields (flat, e.g. max_steps=5)."""
    hyper_keys = set(Hyper.model_fields)
    spec_keys = set(TrainSpec.model_fields) - {"hyper"}
    unknown = set(overrides) - hyper_keys - spec_keys
    if unknown:
        raise UsageError(f"Unknown training option(s): {', '.join(sorted(unknown))}; see the recipe fields.")
    hyper = {k: v for k, v in overrides.items() if k in hyper_keys and v is not None}
    spec = {k: v for k, v in overrides.items() if k in spec_keys and v is not None}
    return spec, hyper


def spec_from_recipe(
    settings: Any,
    recipe: str | None,
    *,
    persona: str | None = None,
    method: str | None = None,
    dataset: str | Path | None = None,
    recipe_file: Path | None = None,
    **overrides: Any,
) -> TrainSpec:
    """Build a TrainSpec from a recipe (default: the persona's, else persona-lora) plus overrides."""
    check_names(recipe=recipe, persona=persona, adapter=overrides.get("name"), version=overrides.get("version"))
    if recipe_file is not None:  # a TOML file the local user named; other callers pass names only
        base = read_recipe(recipe_file)
        recipe = Path(recipe_file).stem if name_problem(Path(recipe_file).stem) is None else None
    else:
        recipe = recipe or _persona_recipe(settings, persona) or "persona-lora"
        base = load_recipe(settings, recipe)
    spec_over, hyper_over = _split_overrides(overrides)
    method = method or base.method
    data_path = Path(dataset).expanduser().resolve() if dataset else _default_dataset(settings, persona)
    if not data_path.is_file():
        raise NotFound(f"Dataset {data_path} does not exist; check the path.")
    hyper = {**base.hyper.model_dump(), **hyper_over}
    hyper["report_to"] = check_report_to(hyper.get("report_to") or settings.train.report_to)
    if method == "full" and "learning_rate" not in hyper_over and base.method != "full":
        hyper["learning_rate"] = 2e-5  # full fine-tuning needs a ~10x smaller LR than LoRA
    name = spec_over.pop("name", None) or f"{persona or 'base'}-{method}"
    root = settings.artifacts_dir / "adapters"
    version = spec_over.pop("version", None) or peek_version(settings, name)  # submit reserves the real one
    fields: dict[str, Any] = {
        "name": name, "version": version, "method": method, "dataset": data_path,
        "dataset_sha256": sha256_file(data_path), "output_dir": root / name / version,
        "base_model": base.base_model or settings.base_model, "hyper": hyper,
        "persona": persona, "recipe": recipe, "replay_general_share": settings.train.replay_general_share,
    }
    fields.update(spec_over)
    try:
        return TrainSpec.model_validate(fields)
    except ValidationError as exc:
        raise UsageError(f"Invalid training option: {_first_error(exc)}.") from None


def check_report_to(target: str) -> str:
    """The reporting target, refused in one sentence when its package is not installed here."""
    if target in ("tensorboard", "trackio") and importlib.util.find_spec(target) is None:
        raise UsageError(f"report_to = {target} needs the {target} package, which is not installed; "
                         f"run `pip install {target}` or set report_to = none.")
    return target


def _persona_recipe(settings: Any, persona: str | None) -> str | None:
    if not persona:
        return None
    from skills.personas import load_persona

    return load_persona(settings.workspace_dir, persona).recipe
