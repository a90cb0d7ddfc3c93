"""persona.show: a persona card as text."""

from typing import Any

from skills.context import SkillContext


def persona_show(persona: str, *, ctx: SkillContext) -> dict[str, Any]:
    """The card of `persona`: prompt, style markers, recipe and channels."""
    from skills.personas import load_persona

    card = load_persona(ctx.settings.workspace_dir, persona)
    markers = ", ".join(card.style.any_of) or "none"
    channels = ", ".join(card.channels) or "none"
    text = (f"**{card.name}** — {card.description or 'no description'}\nPrompt: {card.system_prompt}\n"
            f"Style markers: {markers}\nRecipe: {card.recipe}\nChannels: {channels}")
    return {**card.model_dump(mode="json"), "message": text}
