"""Schema/format checks of what a proposal changes, run by the evaluator on the candidate checkout."""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import ValidationError

from config.errors import SelftuneError
from improver.proposals import ChangedFile
from skills.personas import load_persona
from skills.registry import parse_skill_md
from skills.train.spec import Recipe


def file_problems(checkout: Path, files: list[ChangedFile]) -> list[str]:
    """Problems with the changed files' formats (empty when all are valid)."""
    problems: list[str] = []
    for f in files:
        if f.status == "D":
            problems.extend(_deletion_problem(f.path))
            continue
        problems.extend(_check_one(checkout, f.path))
    return problems


def _deletion_problem(rel: str) -> list[str]:
    # Deleting a card, recipe or the served pointer would break users; overlays may be dropped.
    return [] if rel.startswith("skills/") else [f"{rel} would be deleted; cards and recipes may only be edited"]


def _check_one(checkout: Path, rel: str) -> list[str]:
    path = checkout / rel
    try:
        if rel.startswith("personas/"):
            persona = load_persona(checkout, path.stem)
            if persona.name != path.stem:
                return [f"{rel}: name '{persona.name}' does not match the file name"]
        elif rel.startswith("recipes/"):
            Recipe.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
        elif rel.startswith("skills/") and rel.endswith("SKILL.md"):
            meta, _ = parse_skill_md(path.read_text(encoding="utf-8"), rel)
            if meta.get("name") in (None, ""):
                return [f"{rel}: front matter has no name"]
        elif rel.endswith(".toml"):
            tomllib.loads(path.read_text(encoding="utf-8"))
    except (SelftuneError, ValidationError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        return [f"{rel} breaks its schema: {str(exc).splitlines()[0]}"]
    return []
