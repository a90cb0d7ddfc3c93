"""adapters.delete: remove trained adapter folders (never one a persona serves)."""

from typing import Any

from skills.context import SkillContext


def adapters_delete(adapter: str = "all", *, ctx: SkillContext) -> dict[str, Any]:
    """Delete the adapters `adapter` names ("all", a name, or "name/version"); served ones are kept."""
    from skills.train.adapters import delete_adapters

    result = delete_adapters(ctx.settings, adapter)
    deleted = ", ".join(result["deleted"]) or "nothing"
    kept = f" Kept (served): {', '.join(result['kept_served'])}." if result["kept_served"] else ""
    return {**result, "message": f"Deleted {deleted}.{kept}"}
