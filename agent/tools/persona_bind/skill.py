"""persona.bind: the persona that answers in a channel."""

from typing import Any

from skills.context import SkillContext


def persona_bind(persona: str, channel: str, *, ctx: SkillContext) -> dict[str, Any]:
    """Bind `persona` to `channel` (one workspace commit)."""
    from skills.personas import bind_channel

    card, sha = bind_channel(ctx.settings, persona, channel.lstrip("#"), ctx.requester.user)
    return {"persona": card.name, "channels": card.channels, "commit": sha,
            "message": f"{card.name} now answers in this channel (workspace commit {sha[:8] or 'unchanged'})."}
