"""Registers this package's skill folders with selftune (entry point group `selftune.skills`)."""

from pathlib import Path

import pluggy

hookimpl = pluggy.HookimplMarker("selftune")


@hookimpl
def register_skills(register):  # noqa: ANN001, ANN201 - pluggy hook signature
    """Register this package's skill folders (each SKILL.md declares how requests reach it)."""
    for folder in ("word_count", "take_note"):
        register(Path(__file__).parent / folder)
