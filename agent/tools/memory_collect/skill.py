"""memory.collect: consent on/off for a channel."""

from typing import Any

from memory.store import open_memory
from skills.context import SkillContext


def memory_collect(enabled: bool, channel: str | None = None, *, ctx: SkillContext) -> dict[str, Any]:
    """Allow (enabled=true) or stop (false) harvesting this channel's conversations into training data."""
    target = channel or ctx.requester.channel
    who = f"{ctx.requester.transport}:{ctx.requester.user}"
    with open_memory(ctx.settings) as memory:
        change = memory.set_consent(target, enabled, who)
    state = "on" if enabled else "off"
    return {"channel": target, "enabled": enabled, "changed_by": who,
            "changed_at": change.changed_at.isoformat(),
            "message": f"Collection is {state} for {target}."}
