"""Registers this package's skill folders with selftune (entry point group `selftune.skills`)."""

from pathlib import Path

import pluggy

hookimpl = pluggy.HookimplMarker("selftune")


@hookimpl
def register_skills(register):  # noqa: ANN001, ANN201 - pluggy hook signature
    """Register the word_count skill folder."""
    register(Path(__file__).parent / "word_count")
