"""Which skill calls need a yes first, and the sentence that says exactly what will happen.

Driven by what skills declare (skills.declaration): a skill's `confirm` sentence (with {arg} placeholders)
is asked before every call of a skill with effects; a skill's `describe` names a function here (or in its
own package) that computes the sentence and whether to ask, for the cases that only sometimes destroy or
cost much: an export that would overwrite an earlier one, cancelling a job someone else started, a training
job whose estimate on this device exceeds `agent.confirm_jobs_over_s`; and every other skill with `effects:
destructive` asks with a generic sentence. Every transport asks the same question (Discord buttons or "yes",
the terminal's y/N, `selftune chat --yes`, MCP's `confirm: true`).
"""

from __future__ import annotations

import importlib
import logging
import re
import string
from collections.abc import Callable
from typing import Any, NamedTuple

from agent.auth import is_local_user
from config.errors import SelftuneError
from config.settings import Settings
from skills.context import Requester
from skills.paths import confine_args
from skills.registry import SkillInfo

log = logging.getLogger(__name__)
ASK = "Reply yes to confirm (anything else cancels)."
YES = re.compile(r"^\s*(?:y|yes|yeah|yep|yup|sure|confirm(?:ed)?|do it|go ahead|ok(?:ay)?,? do it)\s*[.!]*\s*$", re.I)
NO = re.compile(r"^\s*(?:n|no|nope|cancel|stop|abort|don'?t|never ?mind|nvm)\s*[.!]*\s*$", re.I)


class Check(NamedTuple):
    """Whether a call needs a yes, and what will happen (asked when needed, else an optional note)."""

    needed: bool
    text: str = ""


Describer = Callable[[Settings, dict[str, Any], Requester], Check]


def answer_of(text: str) -> bool | None:
    """True for a yes, False for a no, None for anything else."""
    if YES.match(text):
        return True
    return False if NO.match(text) else None


def check(settings: Settings, skill: SkillInfo, args: dict[str, Any], requester: Requester, *,
          where: str = "chat", chosen_by_model: bool = False) -> Check:
    """What running `skill` with `args` will do, and whether the requester must confirm it first.

    `where` is "chat" or "mcp": a `describe` runs only where the skill's `confirm_in` lists it (a training
    estimate is asked about in chat only). Path arguments are confined as the call will confine them.
    """
    decl = skill.declaration
    describe = describer(decl.describe) if decl.describe and where in decl.confirm_in else None
    try:
        if describe is not None:
            if chosen_by_model or not is_local_user(requester):  # no outside path is read, not even to ask
                args = confine_args(args, skill.paths, settings)
            return describe(settings, args, requester)
    except SelftuneError:  # the skill itself (the registry, for paths) will give the same error, in its own words
        return Check(False)
    if decl.confirm and skill.effects != "none":
        return Check(True, fill(decl.confirm, args))
    if skill.effects == "destructive":
        shown = ", ".join(f"{k}={v}" for k, v in args.items()) or "no arguments"
        return Check(True, f"This will run {skill.name} ({shown}), which cannot be undone.")
    return Check(False)


def describer(reference: str) -> Describer:
    """The function a declaration's `describe: module:function` names."""
    module, _, name = reference.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise SelftuneError(f"The confirmation describer '{reference}' cannot be loaded ({exc}); "
                            "fix the skill's SKILL.md 'describe'.") from None


def fill(template: str, args: dict[str, Any]) -> str:
    """A `confirm` sentence with the call's arguments in place ({arg}); an argument not given reads 'default'."""
    fields = {name for _, name, _, _ in string.Formatter().parse(template) if name}
    return template.format(**{name: args.get(name, "default") for name in fields})


def question(check_: Check) -> str:
    """The sentence the user is asked."""
    return f"{check_.text} {ASK}"


# --- what each action does ------------------------------------------------------------------------------


def describe_forget(settings: Settings, args: dict[str, Any], requester: Requester) -> Check:
    """Count exactly what will go, and fix that set in `args` (the very dict the yes runs with): the newest
    message now (through_seq), or the ids a query found, so nothing logged after the question is forgotten."""
    from memory.forget import count_matching, forget_targets, latest_seq, parse_before
    from memory.store import open_memory

    scope = args.get("scope", "me")
    user, channel = forget_targets(scope, asker=requester.user, admin=requester.allows("admin"),
                                   user=args.get("user"), channel=args.get("channel"), here=requester.channel)
    before = parse_before(args.get("before"))
    with open_memory(settings) as memory:
        if args.get("query") and args.get("message_ids") is None:
            args["message_ids"] = memory.matching_ids(args["query"], user=user, channel=channel, before=before)
        if args.get("through_seq") is None:
            args["through_seq"] = latest_seq(memory.conn)
        count = count_matching(memory.conn, user=user, channel=channel, before=before,
                               through_seq=args["through_seq"], ids=args.get("message_ids"))
    whose = "of yours" if scope == "me" else (f"of {user}" if scope == "user" else "of everyone")
    where = f" in #{channel.lstrip('#')}" if channel else " in every channel"
    when = f" from before {args['before']}" if args.get("before") else ""
    about = f" about \u201c{args['query']}\u201d" if args.get("query") else ""
    noun = "message" if count == 1 else "messages"
    return Check(True, f"This will forget {count} {noun} {whose}{where}{when}{about}, from the log and the recall index.")


def describe_promotion(settings: Settings, args: dict[str, Any], requester: Requester) -> Check:
    """The gate's verdict is the question: evaluate now, then fix what a yes means in `args` (the dict the yes
    runs with): promote without evaluating again when the gate passed, promote anyway when it did not."""
    from skills.evaluate.promotion import evaluate_against_served, promotion_target
    from skills.train.adapters import served_adapter

    persona, adapter = promotion_target(settings, args.get("persona"), args.get("adapter"))
    args.update(persona=persona, adapter=adapter)
    current = served_adapter(settings, persona)
    served = current.id if current else None
    kept = served or "the base model"
    if adapter == served:
        return Check(False)  # the skill says it already serves
    undo = f"it replaces {kept}; `rollback {persona}` undoes it"
    if args.get("force"):
        return Check(True, f"This will serve {adapter} for {persona} without the evaluation gate ({undo}).")
    verdict = evaluate_against_served(settings, persona, adapter, served)["gate"]
    if verdict["promote"]:
        args["passed_against"] = served or "base"
        return Check(True, f"The evaluation gate passed {adapter} against {kept}: {verdict['reason']} "
                           f"This will serve it for {persona} ({undo}).")
    args["force"] = True
    return Check(True, f"The evaluation gate did not pass {adapter} against {kept}: {verdict['reason']} "
                       f"Promote it anyway ({undo})?")


def describe_rollback(settings: Settings, args: dict[str, Any], requester: Requester) -> Check:
    from skills.train.adapters import rollback_target, served_map

    persona = str(args.get("persona"))
    now = served_map(settings).get(persona) or "the base model"
    target = rollback_target(settings, persona, args.get("to")) or "the base model"
    return Check(True, f"This will roll back the {persona} persona: it stops serving {now} and serves {target}.")


def describe_delete(settings: Settings, args: dict[str, Any], requester: Requester) -> Check:
    from skills.train.adapters import deletion_plan

    doomed, kept = deletion_plan(settings, str(args.get("adapter", "all")))
    kept_text = f" Kept because a persona serves them: {', '.join(a.id for a in kept)}." if kept else ""
    if not doomed:
        return Check(False, "There is no adapter to delete." + kept_text)
    names = ", ".join(a.id for a in doomed)
    return Check(True, f"This will delete {len(doomed)} adapter{'s' if len(doomed) != 1 else ''} for good: {names}."
                       + kept_text)


def describe_schedule_remove(settings: Settings, args: dict[str, Any], requester: Requester) -> Check:
    if args.get("action", "remove") != "remove":  # pausing and resuming keep the schedule
        return Check(False)
    return Check(True, f"This will remove the schedule \u201c{args.get('schedule')}\u201d for good "
                       "(pause it instead to keep it).")


def describe_cancel(settings: Settings, args: dict[str, Any], requester: Requester) -> Check:
    from skills.jobs.store import JobStore

    store = JobStore(settings)
    try:
        job = store.get(str(args.get("job_id", "latest")))
    finally:
        store.close()
    if job.done or not job.requester or job.requester == requester.user:
        return Check(False)
    return Check(True, f"This will cancel job {job.id} ({job.name}), which {job.requester} started.")


def describe_export(settings: Settings, args: dict[str, Any], requester: Requester) -> Check:
    from skills.train.lookup import resolve_adapter

    ref = resolve_adapter(str(args.get("adapter")), settings)
    out = settings.artifacts_dir / "exports" / ref.path.name
    target = out / "merged" if args.get("to") == "merged" else out / f"{ref.path.name}.gguf"
    if not target.exists():
        return Check(False)
    return Check(True, f"This will overwrite the earlier export at {target}.")


def describe_training(settings: Settings, args: dict[str, Any], requester: Requester) -> Check:
    from skills.train.estimate import estimate_job
    from skills.train.spec import spec_from_recipe

    spec = spec_from_recipe(settings, args.get("recipe"), persona=args.get("persona"), method=args.get("method"),
                            dataset=args.get("dataset"), **({"max_steps": args["max_steps"]} if args.get("max_steps") else {}))
    estimate = estimate_job(settings, spec)
    text = f"This job trains {spec.name} for {estimate.sentence()} on this device."
    return Check(estimate.seconds > settings.agent.confirm_jobs_over_s, text)


def may_ask(skill: SkillInfo) -> bool:
    """Whether calls of `skill` can need a yes over MCP (its schema then offers `confirm`)."""
    decl = skill.declaration
    return (skill.effects == "destructive" or bool(decl.describe and "mcp" in decl.confirm_in)
            or bool(decl.confirm and skill.effects != "none"))
