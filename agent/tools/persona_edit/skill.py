"""persona.edit: change a persona's system prompt."""

from typing import Any

from skills.context import SkillContext


def persona_edit(persona: str, system_prompt: str, *, ctx: SkillContext) -> dict[str, Any]:
    """Replace `persona`'s system prompt (one workspace commit)."""
    from skills.personas import edit_prompt

    card, sha = edit_prompt(ctx.settings, persona, system_prompt, ctx.requester.user)
    return {"persona": card.name, "commit": sha,
            "message": f"Changed {card.name}'s prompt (workspace commit {sha[:8] or 'unchanged'}): {card.system_prompt}"}
