"""Help pages people read: typer 0.2x shows a `<bool>` type beside plain flags (--json <bool>) and writes required
arguments as `{adapter}` in the usage line. Flags take no value, so they show no type; arguments are written in
capitals (`eval [OPTIONS] ADAPTER`), as the commands' own help sentences name them."""

from __future__ import annotations

from typing import Any

from typer import core

_done = False


def _flag_type(original: Any) -> Any:
    def display_type_rich(self: Any, ctx: Any) -> str | None:
        if getattr(self, "is_flag", False) and not getattr(self, "count", False):
            return None  # a flag takes no value
        return original(self, ctx)

    return display_type_rich


def _usage_name(self: Any) -> str:
    name = str(self.metavar or self.display_name_raw).upper()
    if not self.required:
        name = f"[{name}]"
    return name + ("..." if self.nargs != 1 else "")


def plain_help() -> None:
    """Install both fixes once (typer versions without these hooks are left as they are)."""
    global _done
    if _done:
        return
    _done = True
    if hasattr(core.TyperOption, "display_type_rich"):
        core.TyperOption.display_type_rich = _flag_type(core.TyperOption.display_type_rich)  # type: ignore[method-assign]
    if hasattr(core.TyperArgument, "_usage_display_name"):
        core.TyperArgument._usage_display_name = _usage_name  # type: ignore[method-assign]
