"""memory.search: recall past messages by meaning."""

from typing import Any

from config.errors import PermissionDenied
from memory.store import open_memory
from skills.context import SkillContext


def memory_search(query: str, channel: str | None = None, user: str | None = None, k: int = 4, *,
                  ctx: SkillContext) -> dict[str, Any]:
    """Return the k remembered messages closest in meaning to query, optionally from one channel or user."""
    asker = ctx.requester
    if not asker.allows("admin"):
        if channel not in (None, asker.channel):
            raise PermissionDenied(f"You can search only this channel's memory, not {channel}; ask an admin.")
        channel = asker.channel
    with open_memory(ctx.settings) as memory:
        hits = memory.recall(query, channel=channel, k=max(0, min(k, 50)), user=user)
    return {"query": query, "channel": channel, "hits": [h.model_dump(mode="json") for h in hits]}
