"""adapters.promote: serve an adapter for a persona through the evaluation gate (or past it, when forced)."""

from typing import Any

from config.errors import SelftuneError
from skills.context import SkillContext


def adapters_promote(persona: str | None = None, adapter: str | None = None, force: bool = False,
                     passed_against: str | None = None, *, ctx: SkillContext) -> dict[str, Any]:
    """Promote `adapter` (default: the persona's newest) for `persona` if it passes the evaluation gate; `force`
    skips the gate; `passed_against` (set by a chat confirmation that already ran the gate) promotes without
    evaluating again as long as the persona still serves that adapter ("base" for the base model)."""
    from skills.evaluate.promotion import forced_promote, gated_promote, promotion_target
    from skills.train.adapters import served_adapter

    persona, adapter = promotion_target(ctx.settings, persona, adapter)
    if passed_against is not None:
        current = served_adapter(ctx.settings, persona)
        if (current.id if current else "base") != passed_against:
            raise SelftuneError(f"{persona} now serves {current.id if current else 'the base model'}, not the adapter "
                                f"the gate compared {adapter} with; ask again to evaluate it against that one.")
        outcome = forced_promote(ctx.settings, persona, adapter).model_copy(
            update={"gated": True, "reason": "the evaluation gate passed before you confirmed"})
    elif force:
        outcome = forced_promote(ctx.settings, persona, adapter)
    else:
        outcome = gated_promote(ctx.settings, persona, adapter, progress=ctx.progress)
    message = outcome.sentence()
    if outcome.gated and not outcome.promoted and outcome.candidate != outcome.against:
        message += f" To serve it regardless, say \u201cpromote {outcome.candidate} anyway\u201d."
    return {**outcome.model_dump(), "message": message}

