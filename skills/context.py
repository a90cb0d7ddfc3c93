"""What a skill function receives besides its own arguments: who asks, from where, with which settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from config.settings import Permission, Settings

PERMISSION_RANK: dict[str, int] = {"read": 0, "train": 1, "admin": 2}


@dataclass
class Requester:
    """The identity behind a request; permission is computed from config, never from the model."""

    user: str = "local"
    transport: Literal["console", "cli", "discord", "mcp", "scheduler", "improver"] = "cli"
    channel: str = "cli"
    permission: Permission = "admin"
    roles: list[str] = field(default_factory=list)

    def allows(self, needed: Permission) -> bool:
        """True when this requester's permission is at least `needed`."""
        return PERMISSION_RANK[self.permission] >= PERMISSION_RANK[needed]


@dataclass
class SkillContext:
    """Passed to every skill call as the keyword argument `ctx`."""

    settings: Settings
    requester: Requester = field(default_factory=Requester)
    # Long-running skills report progress here: progress({"step": 3, "loss": 1.2, ...}).
    progress: Callable[[dict[str, Any]], None] | None = None
    # Paths and files: confined callers (Discord, MCP, anything the model chose) read only datasets folders and
    # write only under artifacts/datasets (config/paths.py); SkillRegistry.call confines every argument typed as a
    # path (skills/paths.py) before the skill runs. Confined unless a transport says the local user typed this
    # call themselves: forgetting to decide must never open the file system.
    confined: bool = True

    def report(self, event: dict[str, Any]) -> None:
        """Forward a progress event to whoever is listening (no-op when nobody is)."""
        if self.progress is not None:
            self.progress(event)
