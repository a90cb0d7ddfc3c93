"""What chat shows before two actions run: the data a tune will train on, and a new persona's card.

A tune whose dataset is a channel, synthetic rows or a mix builds that dataset first (skills.dataset.sources);
a tune on a file reads it (through dataset.stats, so the caller's path policy applies). Either is previewed:
rows, tokens, the eval split held out, the estimate on the chosen executor and three rows.
"Create a persona called …" asks the LLM for a system prompt and style markers and shows the card. Both then
wait for the asker's yes (Discord buttons, a typed yes, the terminal's y/N, `selftune chat --yes`), and the
confirmed action runs exactly what was shown: train.submit on the built file, persona.create with that card.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from config.settings import Settings

RunSkill = Callable[[str, dict[str, Any]], Any]  # registry call with the requester's context, or None if absent


class Proposal(NamedTuple):
    """The arguments the skill will run with once confirmed, and the preview the user confirms."""

    args: dict[str, Any]
    text: str


def propose(settings: Settings, run: RunSkill, intent: str, args: dict[str, Any], channel: str) -> Proposal | None:
    """The preview for a tune (from a data plan or a file, on every transport) or a new persona; None when the
    intent runs as usual."""
    if intent == "tune":
        return _tune(settings, run, args, channel)
    if intent == "persona_create" and "system_prompt" not in args:
        return _persona(settings, args)
    return None


def _tune(settings: Settings, run: RunSkill, args: dict[str, Any], channel: str) -> Proposal | None:
    from config.names import name_problem
    from skills.dataset.sources import Prepared, parse_plan

    if not args.get("dataset") or not args.get("persona"):
        return None
    if parse_plan(str(args["dataset"]), here=channel) is None:
        # A file (a path, a Discord upload) is previewed the same way. A bad persona name is left to train.submit,
        # which refuses it in one sentence.
        return _tune_file(settings, run, args) if name_problem(args["persona"], "persona") is None else None
    result = run("dataset.prepare", {"persona": args["persona"], "source": args["dataset"], "channel": channel})
    if result is None:  # no dataset.prepare skill here: the dataset goes to train.submit as given
        return None
    prepared = Prepared.model_validate(result)
    fitted = {**args, "dataset": str(prepared.path)}
    return Proposal(fitted, preview_text(settings, fitted, prepared))


def _tune_file(settings: Settings, run: RunSkill, args: dict[str, Any]) -> Proposal | None:
    """The same preview for a dataset file; a path the caller may not read is refused by dataset.stats."""
    from itertools import islice

    from skills.dataset.sources import Prepared

    stats = run("dataset.stats", {"path": str(args["dataset"]), "tokens": False})
    if stats is None:  # no dataset.stats skill here: the file goes to train.submit as given
        return None
    path = Path(stats["path"])
    prepared = Prepared(path=path, rows=int(stats["rows"]), harvested=0, synthetic=0,
                        samples=list(islice(_rows(path), 3)))
    fitted = {**args, "dataset": str(path)}
    return Proposal(fitted, preview_text(settings, fitted, prepared))


def preview_text(settings: Settings, args: dict[str, Any], prepared: Any) -> str:
    """Rows, tokens, the held-out split, the estimate on the executor, and three rows."""
    from skills.dataset.sources import count_tokens
    from skills.train.estimate import estimate_job
    from skills.train.spec import spec_from_recipe

    spec = spec_from_recipe(settings, args.get("recipe"), persona=args.get("persona"), method=args.get("method"),
                            dataset=args["dataset"], **({"max_steps": args["max_steps"]} if args.get("max_steps") else {}))
    estimate = estimate_job(settings, spec)
    executor = args.get("executor") or settings.executor.kind
    held = 0 if spec.eval_dataset else prepared.rows - max(1, round(prepared.rows * (1 - spec.hyper.eval_split)))
    where = [f"{prepared.harvested} consented answers harvested"] if prepared.harvested else []
    why = "duplicates left out" if prepared.duplicates_removed else "the seed prompts ran out"
    short = f" of the {prepared.synthetic_asked} asked; {why}" if prepared.synthetic < prepared.synthetic_asked else ""
    where += [f"{prepared.synthetic} synthetic rows{short}"] if prepared.synthetic_asked else []
    where = where or [f"the file {prepared.path.name}"]
    lines = [
        f"Training data for {spec.name} ({', '.join(where)}): {prepared.rows} rows, about "
        f"{count_tokens(list(_rows(prepared.path))):,} tokens; {held} rows held out for evaluation "
        f"(eval_split {spec.hyper.eval_split:g}), {prepared.rows - held} to train on.",
        f"Estimate on the {executor} executor: {estimate.sentence()}.",
        "First rows:", *(f"> {_sample(row)}" for row in prepared.samples),
    ]
    if prepared.duplicates_removed:
        lines.insert(1, f"{prepared.duplicates_removed} exact or near duplicate rows were left out.")
    return "\n".join([*lines, *_advice(settings, args, prepared.rows)])


def _advice(settings: Settings, args: dict[str, Any], rows: int) -> list[str]:
    """Below train.advise_prompting_below_rows, the guides' word: a persona card may do better; offer both."""
    if rows >= settings.train.advise_prompting_below_rows or not args.get("persona"):
        return []
    persona = args["persona"]
    return [f"With only {rows} rows, a persona card (prompting alone) often does as well as fine-tuning or better; "
            f"the guides suggest tuning from about {settings.train.advise_prompting_below_rows} examples. You can "
            f"do both: say 'use {persona} in this channel' to answer with the card now, and reply yes to train "
            "anyway."]


def _rows(path: Any) -> Any:
    from skills.dataset.io import iter_canonical

    return iter_canonical(path)


def _sample(row: dict[str, Any]) -> str:
    turns = [m for m in row.get("messages", []) if m.get("role") in ("user", "assistant")][-2:]
    text = " → ".join(str(m.get("content", "")).replace("\n", " ") for m in turns)
    return text if len(text) <= 160 else text[:159] + "…"


def _persona(settings: Settings, args: dict[str, Any]) -> Proposal:
    from skills.personas import propose_persona

    name = str(args.get("name") or args.get("persona"))
    card = propose_persona(settings, name, str(args.get("description") or "has its own voice"))
    markers = ", ".join(card.style.any_of) or "none proposed"
    text = (f"New persona card **{card.name}** (recipe {card.recipe}):\nPrompt: {card.system_prompt}\n"
            f"Style markers: {markers}\nIt will be committed to the workspace.")
    return Proposal({"name": card.name, "description": card.description, "system_prompt": card.system_prompt,
                     "markers": card.style.any_of, "recipe": card.recipe}, text)
