"""The evaluator's own configuration: built from Settings, then `<home>/evaluator.toml` on top.

The evaluator never reads the generator's provider settings or the proposals table; everything it needs
is here. Tests point `answerer`/`answer_base_url` at a scripted server on 127.0.0.1.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from config.errors import ConfigError
from config.settings import Settings

FILE_NAME = "evaluator.toml"


class EvalConfig(BaseModel):
    """How proposals are judged: where things are, which model answers, how many repeats."""

    model_config = ConfigDict(extra="forbid")
    workspace: Path = Field(description="The workspace git repository.")
    holdout_dir: Path = Field(description="Held-out data, outside the workspace.")
    models_dir: Path = Field(description="Converted base models.")
    artifacts_dir: Path | None = Field(None, description="Where registered adapters live (adapter proposals).")
    base_model: str = Field("smollm2", description="Model whose answers are scored for persona proposals.")
    answerer: Literal["local", "openai"] = Field("local", description="local transformers or an OpenAI-compatible server.")
    answer_base_url: str | None = Field(None, description="Server URL when answerer = 'openai'.")
    answer_model: str = Field("evaluator", description="Model name sent to the server.")
    temperature: float = Field(0.7, ge=0, description="Sampling temperature; repeats differ only through it.")
    max_new_tokens: int = Field(48, gt=0)
    repeats: int = Field(3, ge=1, description="Repeated measurements of baseline and candidate (noise).")
    max_prompts: int = Field(16, ge=2, description="Held-out prompts per measurement.")
    bootstrap: int = Field(1000, ge=100, description="Bootstrap resamples over held-out items.")
    recipe_base_model: str | None = Field(
        None, description="A smaller 'eval base' for the short training run of recipe proposals; None measures on "
        "the served base model. A verdict measured on it is labelled and never merged automatically.")
    train_steps: int = Field(30, gt=0, description="Optimizer steps of that run (same budget for both sides).")
    train_max_length: int = Field(96, gt=8)
    allow_code_paths: list[str] = Field(default_factory=list, description="Globs of code the loop may edit.")
    test_command: list[str] = Field(
        default_factory=lambda: [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        description="Runs the checkout's tests when a proposal changes code.",
    )
    test_timeout_s: float = Field(300.0, gt=0)
    judge_provider: Literal["local", "openai", "ollama", "none"] = Field(
        "local", description="Position-swapped judge of persona answers ('none' leaves the style markers alone).")
    judge_model: str = Field("smollm2", description="Judge model name at its provider.")
    judge_base_url: str | None = Field(None, description="Judge server URL for openai/ollama.")
    judge_timeout_s: float = Field(60.0, gt=0)
    judge_max_position_bias: float = Field(
        0.2, ge=0, le=0.5, description="A judge choosing the first-shown answer beyond 50% ± this is left out "
        "(eval.judge_max_position_bias).")
    judge_max_disagreement: float = Field(
        0.4, ge=0, le=1, description="A judge whose two orders disagree on more than this share of pairs is left "
        "out (eval.judge_max_disagreement).")
    state_db: Path | None = Field(None, description="selftune.db, whose consented conversation log skill proposals "
                                  "are replayed from.")
    replay_days: float = Field(30.0, gt=0, description="Days of consented requests replayed for skill proposals.")
    rephrase_window_s: float = Field(300.0, gt=0, description="Seconds within which a follow-up counts as a rephrase.")
    executor: Literal["local", "ray"] = Field(
        "local", description="Where measurements that load a model (recipe short trains, local persona answers, "
        "adapter losses) run: in this process, or with 'ray' as jobs on the GPU box's trainer resource.")
    home: Path | None = Field(None, description="The state dir whose settings submit those jobs (executor 'ray').")
    skill_resolver: str = Field(
        "", description="'module:function' of a factory (workspace checkout -> dry-run resolver) that says how the "
        "router understands a request; the agent names its router here, since the improver may not import it.")

    def measured_base(self, served: str) -> str:
        """The model a recipe proposal's short training run uses: the eval base if one is set, else the served one."""
        return self.recipe_base_model or served


def from_settings(settings: Settings, **overrides: object) -> EvalConfig:
    """Defaults from Settings, then <home>/evaluator.toml, then explicit overrides."""
    data: dict[str, object] = {
        "workspace": settings.workspace_dir, "holdout_dir": settings.holdout_dir,
        "models_dir": settings.models_dir, "artifacts_dir": settings.artifacts_dir, "base_model": settings.base_model,
        "allow_code_paths": list(settings.improver.allow_code_paths),
        "recipe_base_model": settings.improver.eval_base_model, "judge_provider": settings.judge.provider,
        "judge_model": settings.judge.model or settings.base_model,
        "judge_base_url": settings.judge.base_url or (settings.ollama.host if settings.judge.provider == "ollama" else None),
        "judge_timeout_s": settings.judge.timeout_s, "state_db": settings.db_path,
        "judge_max_position_bias": settings.eval.judge_max_position_bias,
        "judge_max_disagreement": settings.eval.judge_max_disagreement,
        "replay_days": settings.improver.replay_days, "rephrase_window_s": settings.improver.rephrase_window_s,
        "executor": settings.executor.kind, "home": settings.home,
    }
    path = settings.home / FILE_NAME
    if path.is_file():
        try:
            data.update(tomllib.loads(path.read_text(encoding="utf-8")))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}; fix the file.") from None
    data.update(overrides)
    try:
        return EvalConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ConfigError(f"Evaluator setting '{err['loc'][0]}' is invalid: {err['msg']} (see {path}).") from None
