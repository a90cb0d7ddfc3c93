"""persona.edit: change a persona's system prompt."""

from typing import Any

from skills.context import SkillContext


def persona_edit(persona: str, system_prompt: str, *, ctx: SkillContext) -> dict[str, Any]:
    """Replace `persona`'s system prompt (one workspace commit, listed in the improvement journal)."""
    from improver.journal import JournalEntry, record
    from skills.personas import edit_prompt

    card, sha = edit_prompt(ctx.settings, persona, system_prompt, ctx.requester.user)
    if sha:  # a person's edit, not a measured attempt: the journal says so, so the loop sees it in its history
        record(ctx.settings, JournalEntry(target=f"persona:{card.name}", files=[f"personas/{card.name}.toml"],
                                          verdict="accepted", commit=sha, generator="chat",
                                          reason=f"system prompt changed by {ctx.requester.user} in chat (not measured)"))
    return {"persona": card.name, "commit": sha,
            "message": f"Changed {card.name}'s prompt (workspace commit {sha[:8] or 'unchanged'}): {card.system_prompt}"}
