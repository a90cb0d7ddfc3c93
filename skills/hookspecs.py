"""Pluggy hook specifications: how built-in and third-party packages contribute skills."""

import pluggy

hookspec = pluggy.HookspecMarker("selftune")
hookimpl = pluggy.HookimplMarker("selftune")


@hookspec
def register_skills(register):  # type: ignore[no-untyped-def]
    """Call register(path_to_skill_folder) or register(function, skill_md=...) for each skill."""
