"""Export the skill registry as Agent-Skills/OpenClaw style SKILL.md folders another host can install."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

from skills.registry import SkillInfo, SkillRegistry


def _example_args(skill: SkillInfo) -> dict[str, object]:
    """Placeholder arguments built from the schema: required ones only."""
    props = skill.parameters.get("properties", {})
    return {name: f"<{props[name].get('type', 'value')}>" for name in skill.parameters.get("required", [])}


def render_skill_md(skill: SkillInfo) -> str:
    """A SKILL.md whose usage calls the selftune CLI with --json."""
    front = yaml.safe_dump(
        {"name": skill.name.replace(".", "-"), "description": skill.description}, sort_keys=False, allow_unicode=True
    ).strip()
    args = json.dumps(_example_args(skill))
    schema = json.dumps(skill.parameters, indent=2)
    return (
        f"---\n{front}\n---\n\n# {skill.name}\n\n{skill.description}\n\n"
        f"Permission needed: `{skill.permission}`. Origin: {skill.origin} {skill.version}.\n\n"
        f"## Usage\n\nRun this command and read the JSON document it prints on stdout "
        f"(exit code 0 = success, 1 = failed or invalid, 2 = usage error):\n\n"
        f"```bash\nselftune skills call {skill.name} --args '{args}' --json\n```\n\n"
        f"## Parameters (JSON Schema)\n\n```json\n{schema}\n```\n\n{skill.body}\n"
    )


def export_skills(registry: SkillRegistry, out: Path) -> list[Path]:
    """Write one folder per skill into `out` (replacing earlier exports); return the SKILL.md paths."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for skill in registry.all():
        folder = out / skill.name.replace(".", "-")
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir()
        path = folder / "SKILL.md"
        path.write_text(render_skill_md(skill), encoding="utf-8")
        written.append(path)
    return written
