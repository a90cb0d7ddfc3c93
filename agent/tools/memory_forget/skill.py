"""memory.forget: erase messages from both memory stores and the datasets built from them, with the permission
rules of who may erase what."""

from typing import Any, Literal

from memory.forget import forget_targets, parse_before
from memory.store import open_memory
from skills.context import SkillContext
from skills.dataset.provenance import clean_forgotten


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
    derived = clean_forgotten(ctx.settings)
    whose = "of yours" if target_user == asker.user else (f"of {target_user}" if target_user else "of everyone")
    where = f"in #{target_channel}" if target_channel else "in every channel"
    noun = "message" if result.messages == 1 else "messages"
    said = f"Forgot {result.messages} {noun} {whose} {where}, from the log and the recall index. {derived.sentence()}"
    return {"message": said.strip(), "forgotten": result.messages, "feedback_removed": result.feedback,
            "scope": scope, "user": target_user, "channel": target_channel, "before": before, "query": query,
            "dataset_rows_removed": derived.rows, "adapters_trained_on_them": [a.model_dump() for a in derived.adapters]}
