"""memory.forget: erase messages from both memory stores, with the permission rules of who may erase what."""

from typing import Any, Literal

from config.errors import PermissionDenied, UsageError
from memory.forget import parse_before
from memory.store import open_memory
from skills.context import SkillContext

QUERY_MAX_DISTANCE = 0.6  # cosine distance: closer than this counts as "about" the query


def memory_forget(scope: Literal["me", "user", "channel"] = "me", user: str | None = None,
                  channel: str | None = None, before: str | None = None, query: str | None = None, *,
                  ctx: SkillContext) -> dict[str, Any]:
    """Forget your own messages (or, for admins, a user's or a channel's); returns how many were removed."""
    asker = ctx.requester
    target_user = asker.user if scope == "me" else user
    target_channel = channel if scope == "channel" else None
    if scope == "user" and not user:
        raise UsageError("Say whose messages to forget (user).")
    if (target_channel is not None or target_user != asker.user) and not asker.allows("admin"):
        raise PermissionDenied("Only admins can forget other people's messages or whole channels; "
                               "you can forget your own with scope 'me'.")
    cutoff = parse_before(before)
    with open_memory(ctx.settings) as memory:
        ids = None
        if query:
            hits = memory.recall(query, channel=target_channel, k=50, user=target_user, until=cutoff)
            ids = [h.message_id for h in hits if h.distance <= QUERY_MAX_DISTANCE]
        result = memory.forget(user=target_user, channel=target_channel, before=cutoff, ids=ids)
    return {"forgotten": result.messages, "feedback_removed": result.feedback, "scope": scope,
            "user": target_user, "channel": target_channel, "before": before, "query": query}

