"""dataset.prepare: a persona dataset from a channel, synthetic rows, or both."""

from typing import Any

from skills.context import SkillContext


def dataset_prepare(persona: str, source: str, channel: str | None = None, *, ctx: SkillContext) -> dict[str, Any]:
    """Build `persona`'s dataset from `source` (#channel, here, synthetic[:N], or a '+' mix); `channel` is 'here'."""
    from config.errors import UsageError
    from skills.dataset.sources import parse_plan, prepare
    from skills.personas import require_persona

    plan = parse_plan(source, here=channel)
    if plan is None:
        raise UsageError(f"'{source}' is not a data source; use #channel, 'synthetic', 'synthetic:200' or both "
                         "joined by '+'.")
    persona = require_persona(ctx.settings.workspace_dir, persona)
    return prepare(ctx.settings, plan, persona, progress=ctx.progress).model_dump(mode="json")
