"""adapters.rollback: restore a persona's previously served adapter."""

from typing import Any

from skills.context import SkillContext


def adapters_rollback(persona: str, to: str | None = None, *, ctx: SkillContext) -> dict[str, Any]:
    """Serve the adapter `persona` served before its last promotion (or the adapter id `to`)."""
    from skills.train.adapters import rollback

    change = rollback(ctx.settings, persona, to=to)
    before, now = change["from"] or "the base model", change["to"] or "the base model"
    message = f"{persona} now serves {now} again (it served {before}); `selftune rollback {persona}` undoes this."
    return {**change, "message": " ".join([message, change.get("ollama") or ""]).strip()}
