"""The built-in skills, registered through the same `selftune.skills` entry point as third-party ones."""

from pathlib import Path

from skills.hookspecs import hookimpl

TOOLS_DIR = Path(__file__).parent / "tools"


@hookimpl
def register_skills(register):  # type: ignore[no-untyped-def]
    """Register every skills/tools/<name>/ folder."""
    for folder in sorted(TOOLS_DIR.iterdir()):
        if (folder / "SKILL.md").is_file():
            register(folder)
