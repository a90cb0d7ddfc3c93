"""persona.create: a new persona card, committed to the workspace."""

from typing import Any

from skills.context import SkillContext


def persona_create(name: str, description: str, system_prompt: str, markers: list[str] | None = None,
                   recipe: str = "persona-lora", *, ctx: SkillContext) -> dict[str, Any]:
    """Create persona `name` with this system prompt and style markers; one workspace commit."""
    from config.errors import UsageError
    from config.names import check_name, normalize_name
    from skills.personas import Persona, StyleChecks, list_personas, save_persona

    name = check_name(normalize_name(name), "persona")  # a sentence, before the card's own validation
    check_name(recipe, "recipe")
    if name in list_personas(ctx.settings.workspace_dir):
        raise UsageError(f"A persona called '{name}' already exists; say 'show the {name} persona' or pick another name.")
    card = Persona(name=name, description=description, system_prompt=system_prompt, recipe=recipe,
                   style=StyleChecks(any_of=list(markers or [])))
    sha = save_persona(ctx.settings, card, f"personas: {name} created by {ctx.requester.user}")
    return {"persona": name, "commit": sha, "message": f"Created the {name} persona (workspace commit {sha[:8]}). "
            f"Say 'use {name} in this channel' to bind it here, or 'tune a {name} persona adapter on synthetic data'."}
