"""One action path: (skill, arguments, requester) → permission → missing arguments → confirmation → call → reply.

The Router (or a Discord command, a button) says which skill and arguments; everything after that lives
here, driven by the skill's declaration (skills.declaration): the permission it needs, fitting the
grammar's arguments to the skill's parameters, the follow-up question for what is missing, the sentence to
confirm, running the skill and describing its result. The LLM turn uses the same `run_skill`,
`describe_result` and the refusal sentence for actions that text inside data tried to start.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from agent import chat_tune, confirm
from agent.auth import allows, is_local_user
from agent.intents import Intent

if TYPE_CHECKING:
    from agent.fuzzy_intents import Guess
from agent.grammar import Grammar
from agent.prompts import followups
from agent.session import Confirmation, Pending, Session
from config.errors import PermissionDenied, SelftuneError, report_internal_error
from config.messages import IncomingMessage, Reply
from config.settings import Permission, Settings
from skills.context import Requester, SkillContext
from skills.personas import list_personas
from skills.registry import SkillInfo, SkillRegistry

log = logging.getLogger(__name__)

SUGGESTED = "intent.suggested"  # a Confirmation for "Did you mean …?": a yes handles its intent, not one skill call
# Intent argument -> parameter names a skill may use for it (first one the skill has wins).
ALIASES: dict[str, list[str]] = {
    "job": ["job_id", "job", "id"], "adapter": ["adapter", "adapter_id", "persona", "name"],
    "persona": ["persona", "name", "schedule"], "dataset": ["dataset", "dataset_path", "path", "source"],
    "to": ["to", "target", "format"], "enabled": ["enabled", "on", "consent"], "channel": ["channel"],
    "at": ["at"], "every_minutes": ["every_minutes"], "scope": ["scope"], "query": ["query", "q"],
    "method": ["method"], "action": ["action"],
}


class Outcome(NamedTuple):
    """A reply, and whether its text carries data (a skill's result or error, a model that read data) rather than our own words."""

    reply: Reply
    quotes_data: bool


def intent_of(registry: SkillRegistry, skill: str) -> str:
    """The intent a skill declares (what replies and logs call its calls), 'chat' for a tool-only skill."""
    return (registry.get(skill).declaration.intent or "chat") if skill in registry else "chat"


def fit_args(intent_args: dict[str, Any], skill: SkillInfo, channel: str) -> dict[str, Any]:
    """Rename the grammar's arguments to the skill's parameter names; drop what the skill doesn't take."""
    params = skill.parameters.get("properties", {})
    fitted: dict[str, Any] = {}
    for key, value in intent_args.items():
        target = next((p for p in ALIASES.get(key, [key]) if p in params and p not in fitted), None)
        if target is not None:
            fitted[target] = value
    if "channel" in params and "channel" not in fitted:
        fitted["channel"] = channel
    return fitted


def missing_skill_args(skill: SkillInfo, fitted: dict[str, Any]) -> list[str]:
    """Required skill parameters still without a value."""
    return [p for p in skill.parameters.get("required", []) if p not in fitted]


def question(field: str, options: str = "", skill: SkillInfo | None = None) -> str:
    """The short follow-up question for a missing argument: the skill's own (`asks`), else the generic one."""
    templates = followups()
    own = skill.declaration.asks.get(field) if skill is not None else None
    return (own or templates.get(field, templates["default"])).format(options=options, field=field.replace("_", " "))


ROSTER: dict[Permission, str] = {"read": "default_permission", "train": "trainers", "admin": "admins"}


def check_permission(intent: Intent, needed: Permission, permission: Permission, user: str) -> None:
    """Refuse before doing anything when the sender's permission is below what the intent's skill needs."""
    if not allows(permission, needed):
        raise PermissionDenied(
            f"Sorry {user}, '{intent.name}' needs the '{needed}' permission and you have '{permission}'; "
            f"ask an admin to add you to auth.{ROSTER[needed]}."
        )


def not_installed(intent: Intent, skill_name: str) -> Reply:
    """A clear reply when the skill behind a core intent is not registered (yet)."""
    shown = ", ".join(f"{k}={v}" for k, v in intent.args.items()) or "no arguments"
    return Reply(text=f"I understood '{intent.name}' ({shown}), but the {skill_name} skill is not installed here, "
                      "so I can't do that yet; `selftune doctor` lists the skills.", intent=intent.name, args=intent.args)


def run_skill(registry: SkillRegistry, name: str, args: dict[str, Any], ctx: SkillContext) -> Any:
    """Call a skill; expected failures propagate as SelftuneError, bugs become 'internal error id X'."""
    try:
        return registry.call(name, args, ctx)
    except SelftuneError:
        raise
    except Exception as exc:
        raise SelftuneError(report_internal_error(log, exc, f"while running {name}")) from None


def describe_result(intent: str, result: Any) -> str:
    """A short human reply for a skill's result dict."""
    if not isinstance(result, dict):
        return str(result)
    for key in ("message", "summary", "text"):
        if isinstance(result.get(key), str):
            return result[key]
    if intent == "tune" and result.get("job_id"):
        return f"Started training job {result['job_id']}; I'll report progress here."
    from agent.result_text import readable

    return readable(result)


def untrusted_refusal(registry: SkillRegistry, skills: list[str], sources: list[str]) -> str:
    """The sentence a reply carries when actions were refused because the turn held data, not the user's words."""
    names = ", ".join(dict.fromkeys(skills))
    words = [registry.get(s).declaration.command[:1] if s in registry else [] for s in dict.fromkeys(skills)]
    commands = [f"`!{w[0]}`" for w in words if w]
    how = f" (e.g. {', '.join(commands)})" if commands else ""
    return (f"I did not run {names}: this conversation included text that you did not type in this message "
            f"({', '.join(dict.fromkeys(sources))}), and such text can't start actions; "
            f"if you want it, ask for it directly{how}.")


def refer_to_last_persona(intent: Intent, skill: SkillInfo, session: Session) -> None:
    """'export it', 'roll it back': the persona the channel last named; remember the one named now."""
    refers = skill.declaration.last_persona
    if refers is None:
        return
    if intent.args.get(refers.arg):
        session.last_persona = intent.args[refers.arg]
    elif session.last_persona and refers.fill:
        intent.args[refers.arg] = session.last_persona


def skill_context(settings: Settings, requester: Requester, *, chosen_by_model: bool) -> SkillContext:
    """The one place confinement is decided: paths stay open only for what the local user typed
    (not `selftune chat --user discord:…`, which speaks as someone else, and never for a model's choice)."""
    return SkillContext(settings=settings, requester=requester, confined=chosen_by_model or not is_local_user(requester))


class Dispatcher:
    """Runs core intents against the skill registry with the requester's permission."""

    def __init__(self, settings: Settings, registry: SkillRegistry) -> None:
        self.settings = settings
        self.registry = registry
        self.grammar = Grammar(registry)

    def dispatch(self, intent: Intent, message: IncomingMessage, session: Session, requester: Requester, *,
                 progress: Callable[[dict[str, Any]], None] | None = None) -> Outcome:
        """Check permission, fill arguments (or ask for one), confirm when needed, run the skill, describe it."""
        name = intent.skill or ""
        if name not in self.registry:
            return Outcome(not_installed(intent, name or intent.name), False)
        skill = self.registry.get(name)
        try:
            check_permission(intent, skill.permission, requester.permission, message.user)
        except PermissionDenied as exc:  # refused: keep what was understood, say why
            return Outcome(Reply(text=str(exc), intent=intent.name, args=intent.args, ok=False), False)
        refer_to_last_persona(intent, skill, session)
        fitted = fit_args(intent.args, skill, message.channel)
        if not self.missing(intent, None):  # a tune (any data source), a new persona: preview first
            proposal = chat_tune.propose(self.settings, self._caller(requester, progress), intent.name, fitted,
                                         message.channel)
            if proposal is not None:
                return self.preview(intent, name, proposal, message, session, requester)
        missing = self.missing(intent, fitted)
        if missing:
            return Outcome(self.ask(intent, missing, session), False)
        check = confirm.check(self.settings, self.registry.get(name), fitted, requester)
        if check.needed and not message.confirmed:
            return Outcome(self.ask_confirmation(intent, name, fitted, check.text, session, message.user), False)
        reply = self._run(intent, name, fitted, requester)
        if reply.job_id and check.text:  # a job started from chat says what it will cost
            reply.text = f"{reply.text}\n{check.text}"
        return Outcome(reply, True)

    def preview(self, intent: Intent, name: str, proposal: chat_tune.Proposal, message: IncomingMessage,
                session: Session, requester: Requester) -> Outcome:
        """Show what will run and wait for a yes; confirmed in advance (`--yes`), run it under the preview."""
        if not message.confirmed:
            return Outcome(self.ask_confirmation(intent, name, proposal.args, proposal.text, session, message.user), True)
        reply = self._run(intent, name, proposal.args, requester)
        reply.text = f"{proposal.text}\n{reply.text}"
        return Outcome(reply, True)

    def _caller(self, requester: Requester, progress: Callable[[dict[str, Any]], None] | None) -> chat_tune.RunSkill:
        """Run an installed skill as `requester` asked it (None when the skill is not installed here)."""
        ctx = skill_context(self.settings, requester, chosen_by_model=False)
        ctx.progress = progress
        return lambda name, args: run_skill(self.registry, name, args, ctx) if name in self.registry else None

    def ask_confirmation(self, intent: Intent, skill: str, args: dict[str, Any], description: str, session: Session,
                         user: str) -> Reply:
        """Say exactly what will happen and keep the action until `user` answers yes (or anything else)."""
        session.confirm = Confirmation(intent=intent, skill=skill, args=args, description=description, user=user,
                                       token=secrets.token_hex(4))
        return Reply(text=confirm.question(confirm.Check(True, description)), intent=intent.name, args=intent.args,
                     confirm=session.confirm.token)

    def suggest(self, guess: Guess, session: Session, user: str, other: Guess | None = None) -> Reply:
        """Ask "Did you mean …?" about a misheard command; `user`'s yes handles it as if heard right. A close
        `other` guess is named too: saying it (heard right this time) runs that one instead."""
        text = f"Did you mean: \u201c{guess.text}\u201d?"
        if other is not None:
            text += f" (Or, if you meant \u201c{other.text}\u201d, say that again.)"
        session.confirm = Confirmation(intent=guess.intent, skill=SUGGESTED, args=guess.intent.args, description=text,
                                       user=user, token=secrets.token_hex(4))
        return Reply(text=f"{text} {confirm.ASK}", intent=guess.intent.name, args={**guess.intent.args, "suggested": True},
                     confirm=session.confirm.token, kind="question")

    def confirmed(self, pending: Confirmation, requester: Requester) -> Outcome:
        """Run an action its requester just confirmed, exactly as described (permission checked again)."""
        skill = self.registry.get(pending.skill)
        if not requester.allows(skill.permission):
            return Outcome(Reply(text=f"You no longer have the '{skill.permission}' permission {pending.skill} needs; "
                                      "nothing was done.", intent=pending.intent.name, ok=False), False)
        reply = self._run(pending.intent, pending.skill, pending.args, requester)
        return Outcome(reply, True)

    def _run(self, intent: Intent, name: str, fitted: dict[str, Any], requester: Requester) -> Reply:
        ctx = skill_context(self.settings, requester, chosen_by_model=False)
        try:
            result = run_skill(self.registry, name, fitted, ctx)
        except SelftuneError as exc:  # understood, but it failed: keep the intent, say why
            return Reply(text=str(exc), intent=intent.name, args=intent.args, ok=False)
        job_id = result.get("job_id") if isinstance(result, dict) else None
        return Reply(text=describe_result(intent.name, result), intent=intent.name, args=intent.args, job_id=job_id)

    def missing(self, intent: Intent, fitted: dict[str, Any] | None) -> str | None:
        """The first argument to ask for: the ones the skill declares it asks for first, then its required ones."""
        skill = self.registry.get(str(intent.skill))
        for field in skill.declaration.asks:
            if not intent.args.get(field):
                return field
        if fitted is None:
            return None
        missing = missing_skill_args(skill, fitted)
        return missing[0] if missing else None

    def ask(self, intent: Intent, field: str, session: Session) -> Reply:
        """Ask for a missing argument and remember the intent until the answer comes."""
        session.pending = Pending(intent=intent, missing=field)
        skill = self.registry.get(str(intent.skill)) if intent.skill in self.registry else None
        return Reply(text=question(field, self._options(field), skill), intent=intent.name, args=intent.args,
                     kind="question")

    def _options(self, field: str) -> str:
        if field == "persona":
            known = self.personas()
            return f" I know: {', '.join(known)}." if known else ""
        if field == "dataset":
            channels = self.consented_channels()
            return f"I can use {', '.join(channels)}, or " if channels else ""
        return ""

    def personas(self) -> list[str]:
        """Persona names in the workspace (none when it cannot be read)."""
        try:
            return list_personas(self.settings.workspace_dir)
        except OSError:
            return []

    def consented_channels(self) -> list[str]:
        """Channels that opted in to collection (none when the memory cannot be read)."""
        from memory.consent import consented_channels  # opened only when a dataset question is asked

        try:
            return [f"#{c}" for c in consented_channels(self.settings)]
        except Exception:
            log.warning("cannot list consented channels", exc_info=True)
            return []
