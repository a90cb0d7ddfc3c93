"""Persona cards (workspace personas/*.toml): a system prompt, a training recipe and style checks."""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from config.errors import ConfigError, NotFound
from config.names import check_name, name_problem


class StyleChecks(BaseModel):
    """Format-adherence rules evaluation applies to a persona's answers."""

    model_config = ConfigDict(extra="forbid")
    any_of: list[str] = Field(default_factory=list, description="At least one marker must appear (case-insensitive).")
    max_chars: int = Field(1200, gt=0)
    must_be_json: bool = False


class Persona(BaseModel):
    """A persona card."""

    model_config = ConfigDict(extra="forbid")
    name: str
    description: str = ""
    system_prompt: str
    recipe: str = "persona-lora"
    channels: list[str] = Field(default_factory=list)
    style: StyleChecks = Field(default_factory=StyleChecks)

    @field_validator("name", "recipe")
    @classmethod
    def _is_a_name(cls, value: str, info: ValidationInfo) -> str:
        """Cards can be edited (by hand or by the improver); their names still become file names."""
        problem = name_problem(value, "persona" if info.field_name == "name" else "recipe")
        if problem:
            raise ValueError(problem)
        return value


def personas_dir(workspace: Path) -> Path:
    """personas/ in the workspace."""
    return workspace / "personas"


def require_persona(workspace: Path, name: str) -> str:
    """Return `name` when it is a valid name and its card exists; else one sentence (UsageError or NotFound)."""
    if check_name(name, "persona") not in list_personas(workspace):
        known = ", ".join(list_personas(workspace)) or "none"
        raise NotFound(f"There is no persona '{name}' (known: {known}); add personas/{name}.toml to the workspace.")
    return name


def load_persona(workspace: Path, name: str) -> Persona:
    """Read personas/<name>.toml from the workspace (the name is checked as a name first, never a path)."""
    path = personas_dir(workspace) / f"{check_name(name, 'persona')}.toml"
    if not path.is_file():
        known = ", ".join(list_personas(workspace)) or "none"
        raise NotFound(f"There is no persona '{name}' (known: {known}); add {path} to create it.")
    try:
        return Persona.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"Persona card {path} is not valid TOML: {exc}; fix the file.") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "card"
        raise ConfigError(f"Persona card {path} is invalid at '{where}': {err['msg']}; fix the file.") from None


def list_personas(workspace: Path) -> list[str]:
    """Names of the personas in the workspace."""
    return sorted(p.stem for p in personas_dir(workspace).glob("*.toml"))
