"""adapters.promote: serve an adapter for a persona through the evaluation gate (or past it, when forced)."""

from typing import Any

from config.errors import SelftuneError
from skills.context import SkillContext


def adapters_promote(persona: str, adapter: str | None = None, force: bool = False, *,
                     ctx: SkillContext) -> dict[str, Any]:
    """Promote `adapter` (default: the persona's newest) for `persona` if it passes the evaluation gate; `force`
    skips the gate."""
    from skills.evaluate.promotion import forced_promote, gated_promote
    from skills.train.adapters import newest_adapter

    if adapter is None:
        newest = newest_adapter(ctx.settings, persona)
        if newest is None:
            raise SelftuneError(f"No adapter was trained for {persona} yet; train one first (`tune {persona}`).")
        adapter = newest.id
    if force:
        outcome = forced_promote(ctx.settings, persona, adapter)
    else:
        outcome = gated_promote(ctx.settings, persona, adapter, progress=ctx.progress)
    return {**outcome.model_dump(), "message": outcome.sentence()}
