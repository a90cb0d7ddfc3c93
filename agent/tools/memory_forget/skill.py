"""memory.forget: erase messages from both memory stores, with the permission rules of who may erase what."""

from typing import Any, Literal

from memory.forget import forget_targets, parse_before
from memory.store import open_memory
from skills.context import SkillContext


def memory_forget(scope: Literal["me", "user", "channel"] = "me", user: str | None = None,
                  channel: str | None = None, before: str | None = None, query: str | None = None,
                  through_seq: int | None = None, message_ids: list[str] | None = None, *,
                  ctx: SkillContext) -> dict[str, Any]:
    """Forget your own messages (in one channel, or everywhere) or, for admins, a user's or a channel's; returns
    how many were removed. through_seq / message_ids fix the set a confirmation question counted (they only narrow)."""
    asker = ctx.requester
    target_user, target_channel = forget_targets(scope, asker=asker.user, admin=asker.allows("admin"), user=user,
                                                 channel=channel, here=asker.channel)
    cutoff = parse_before(before)
    with open_memory(ctx.settings) as memory:
        ids = message_ids
        if query and ids is None:
            ids = memory.matching_ids(query, user=target_user, channel=target_channel, before=cutoff)
        result = memory.forget(user=target_user, channel=target_channel, before=cutoff, ids=ids,
                               through_seq=through_seq)
    return {"forgotten": result.messages, "feedback_removed": result.feedback, "scope": scope,
            "user": target_user, "channel": target_channel, "before": before, "query": query}
