"""Persona cards (workspace personas/*.toml): a system prompt, a training recipe and style checks."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from config.errors import ConfigError, NotFound, SelftuneError, UsageError
from config.names import check_name, name_problem, normalize_name
from config.settings import Settings


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
    ollama_base_model: str | None = Field(None, description="The Ollama model this persona's adapters apply on "
                                          "(overrides ollama.base_model).")

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


def persona_for_channel(workspace: Path, channel: str) -> Persona | None:
    """The card that lists this channel (as `name` or `#name`); broken cards answer nowhere."""
    try:
        names = list_personas(workspace)
    except OSError:
        return None
    for name in names:
        try:
            card = load_persona(workspace, name)
        except SelftuneError:
            continue
        if channel in card.channels or f"#{channel}" in card.channels:
            return card
    return None


# --- personas made and changed by chat (each change is one workspace commit) ------------------------------

PROPOSAL_PROMPT = (
    "Write a persona card for a chat assistant named {name} who {description}. Answer with JSON only: "
    '{{"system_prompt": "<2-3 sentences addressed to the assistant, starting with You are>", '
    '"markers": ["<3 to 5 short words or phrases its answers typically contain, lowercase>"]}}'
)


def propose_persona(settings: Settings, name: str, description: str) -> Persona:
    """A new card for `name` whose system prompt and style markers the configured LLM proposes."""
    from skills.providers import ProviderUnavailable, get_provider

    name = check_name(normalize_name(name), "persona")
    if name in list_personas(settings.workspace_dir):
        raise UsageError(f"A persona called '{name}' already exists; say 'show the {name} persona' or pick another name.")
    try:
        text = get_provider(settings).chat(
            [{"role": "user", "content": PROPOSAL_PROMPT.format(name=name, description=description)}],
            max_tokens=settings.llm.max_new_tokens, temperature=0.3).text
    except ProviderUnavailable as exc:
        raise UsageError(f"I can't propose a card for {name}: the language model is not answering "
                         f"({str(exc).rstrip('.')}); configure llm.provider, or add personas/{name}.toml "
                         "to the workspace by hand.") from None
    found = re.search(r"\{.*\}", text, re.S)  # models often wrap JSON in prose or a code fence
    try:
        data = json.loads(found.group(0)) if found else {}
    except ValueError:
        data = {}
    prompt = data.get("system_prompt") if isinstance(data.get("system_prompt"), str) else None
    markers = [m.lower() for m in data.get("markers", []) if isinstance(m, str) and m.strip()][:5]
    return Persona(name=name, description=description[:200],
                   system_prompt=prompt or f"You are {name}, an assistant who {description}.",
                   style=StyleChecks(any_of=markers))


def card_toml(persona: Persona) -> str:
    """The card as TOML (strings written as JSON strings, which TOML reads as basic strings)."""
    lines = [f"# Persona card made by chat: {persona.description}"]
    for key in ("name", "description", "system_prompt", "recipe"):
        lines.append(f"{key} = {json.dumps(getattr(persona, key), ensure_ascii=False)}")
    lines.append(f"channels = {json.dumps(persona.channels, ensure_ascii=False)}")
    if persona.ollama_base_model:
        lines.append(f"ollama_base_model = {json.dumps(persona.ollama_base_model)}")
    lines += ["", "[style]", f"any_of = {json.dumps(persona.style.any_of, ensure_ascii=False)}",
              f"max_chars = {persona.style.max_chars}"]
    if persona.style.must_be_json:
        lines.append("must_be_json = true")
    return "\n".join(lines) + "\n"


def save_persona(settings: Settings, persona: Persona, message: str) -> str:
    """Write personas/<name>.toml and commit it to the workspace; returns the commit sha."""
    from config.workspace import open_workspace

    workspace = open_workspace(settings)
    relpath = f"personas/{check_name(persona.name, 'persona')}.toml"
    workspace.write(relpath, card_toml(persona))
    return workspace.commit(message, [relpath])


def bind_channel(settings: Settings, name: str, channel: str, by: str) -> tuple[Persona, str]:
    """Make `name` the persona of `channel` (no other card keeps it); returns the card and the commit sha."""
    from config.workspace import open_workspace

    persona = load_persona(settings.workspace_dir, name)
    workspace = open_workspace(settings)
    for other in list_personas(settings.workspace_dir):
        card = persona if other == name else load_persona(settings.workspace_dir, other)
        kept = [c for c in card.channels if c.lstrip("#") != channel] + ([channel] if other == name else [])
        if kept != card.channels:
            workspace.write(f"personas/{other}.toml", card_toml(card.model_copy(update={"channels": kept})))
    sha = workspace.commit(f"personas: {name} answers in channel {channel} (by {by})")
    return load_persona(settings.workspace_dir, name), sha


def edit_prompt(settings: Settings, name: str, system_prompt: str, by: str) -> tuple[Persona, str]:
    """Replace `name`'s system prompt; returns the card and the commit sha (shown by the improver's journal)."""
    if not system_prompt.strip():
        raise UsageError("The new prompt is empty; say \"change noir's prompt to You are ...\".")
    persona = load_persona(settings.workspace_dir, name).model_copy(update={"system_prompt": system_prompt.strip()})
    return persona, save_persona(settings, persona, f"personas: {name}'s system prompt changed by {by}")
