"""The built-in skills, one folder each (SKILL.md + skill.py), registered through the same
`selftune.skills` entry point as third-party ones, so the registry below never imports them."""

from pathlib import Path

from skills.hookspecs import hookimpl

TOOLS_DIR = Path(__file__).parent


@hookimpl
def register_skills(register):  # type: ignore[no-untyped-def]
    """Register every agent/tools/<name>/ folder."""
    for folder in sorted(TOOLS_DIR.iterdir()):
        if (folder / "SKILL.md").is_file():
            register(folder)
