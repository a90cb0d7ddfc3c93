"""The Router: one entry point for every transport (terminal, CLI, Discord, voice).

Order for each message: rate limit → session of the channel → pending follow-up or intent resolution
(explicit command → grammar) → skill dispatch with the sender's permission, else an LLM turn with tools.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

from agent import dispatch, persona_switch
from agent.auth import LOCAL_TRANSPORTS, RateLimiter, requester_for
from agent.intents import Intent, find_dataset, find_persona, resolve
from agent.llm_turn import LLMTurn, TurnLimits
from agent.prompts import followups, prompt
from agent.session import LogHook, Pending, RecallHook, Session
from config.errors import PermissionDenied, SelftuneError, report_internal_error
from config.messages import IncomingMessage, Reply
from config.settings import Settings
from skills.context import Requester, SkillContext
from skills.personas import list_personas, load_persona
from skills.providers import Provider, ProviderUnavailable, get_provider
from skills.registry import SkillRegistry, load_registry

log = logging.getLogger(__name__)
DATASET_EXTENSIONS = (".jsonl", ".json", ".csv", ".parquet")
ABANDON = re.compile(r"^\s*(never ?mind|nvm|forget it|cancel|no|stop|abort|nothing)\W*$", re.IGNORECASE)


class Router:
    """Takes a message, returns a reply. One instance per process; sessions are kept per channel."""

    def __init__(
        self, settings: Settings, *, registry: SkillRegistry | None = None, provider: Provider | None = None,
        recall: RecallHook | None = None, log_hook: LogHook | None = None, limits: TurnLimits | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry if registry is not None else load_registry(workspace=settings.workspace_dir)
        self._provider = provider
        self.recall = recall
        self.log_hook = log_hook
        self.limits = limits or TurnLimits(budget_s=2 * settings.llm.timeout_s, max_tokens=settings.llm.max_new_tokens)
        self.limiter = RateLimiter(settings.auth.rate_limit_per_minute)
        self.sessions: dict[str, Session] = {}

    @property
    def provider(self) -> Provider:
        """The configured LLM provider chain, built on first use."""
        if self._provider is None:
            self._provider = get_provider(self.settings, "llm")
        return self._provider

    def session(self, channel: str) -> Session:
        """The Session of a channel (created with its persona on first use)."""
        if channel not in self.sessions:
            self.sessions[channel] = Session(channel, persona_prompt=self._persona_prompt(channel), recall=self.recall)
        return self.sessions[channel]

    def handle(self, message: IncomingMessage) -> Reply:
        """Answer one message; expected failures become a one-sentence reply, never a traceback."""
        refusal = refuse_too_long(message, self.settings)
        if refusal is not None:  # before any session, memory or model work, and never logged
            return refusal
        session = self.session(message.channel)
        heard = None
        try:
            message, heard = self._transcribe_voice(message)
            reply = self._handle(message, session)
        except SelftuneError as exc:
            reply = Reply(text=str(exc), intent="error", ok=False)
        except Exception as exc:
            text = report_internal_error(log, exc, f"handling a message in {message.channel}")
            reply = Reply(text=text, intent="error", ok=False)
        if heard:  # a voice command does what the same typed text would; the reply shows what was heard
            reply = reply.model_copy(update={"transcript": heard, "text": f"Heard: \u201c{heard}\u201d\n{reply.text}"})
        session.remember(message.text, reply.text)
        self._log(message, reply)
        return reply

    def _transcribe_voice(self, message: IncomingMessage) -> tuple[IncomingMessage, str | None]:
        """A message that is only a voice note becomes its transcript (local Whisper)."""
        from skills.voice import is_audio_file, persona_names, transcribe_file

        audio = next((a for a in message.attachments if is_audio_file(a.filename, a.content_type)), None)
        if audio is None or message.text.strip():
            return message, None
        heard = transcribe_file(audio.path, self.settings, persona_names(self.settings)).text
        return message.model_copy(update={"text": heard}), heard

    async def ahandle(self, message: IncomingMessage) -> Reply:
        """handle() off the event loop (model calls and skills block)."""
        return await asyncio.to_thread(self.handle, message)

    def _handle(self, message: IncomingMessage, session: Session) -> Reply:
        requester = requester_for(self.settings, message)
        if message.transport not in LOCAL_TRANSPORTS:
            wait = self.limiter.check(f"{message.transport}:{message.user}")
            if wait:
                return Reply(text=f"You're sending messages too fast; try again in {wait:.0f} s.", intent="rate_limited")
        intent = self._intent(message, session)
        if intent is None:
            return Reply(text="OK, dropped it.", intent="chat")
        if intent.name == "chat":
            return self._chat(message, session, requester)
        if intent.name == "help":
            return Reply(text=self._help(), intent="help")
        if intent.name == "persona":
            return persona_switch.switch(self.settings, session, intent.args.get("persona"))
        try:
            dispatch.check_permission(intent, requester.permission, message.user)
        except PermissionDenied as exc:  # refused: keep what was understood, say why
            return Reply(text=str(exc), intent=intent.name, args=intent.args, ok=False)
        _refer_to_last_persona(intent, session)
        return self._dispatch(intent, message, session, requester)

    # --- intents -----------------------------------------------------------------------------------

    def _intent(self, message: IncomingMessage, session: Session) -> Intent | None:
        """The message's intent, continuing a pending follow-up when the message answers it."""
        if session.pending is not None and ABANDON.match(message.text):
            session.pending = None
            return None
        intent = resolve(message.text, self._personas())
        upload = _dataset_upload(message)
        if upload and intent.name in ("chat", "tune"):
            session.last_dataset = upload
            if intent.name == "tune":
                intent.args.setdefault("dataset", upload)
        pending, session.pending = session.pending, None
        if pending is None or intent.name != "chat":
            return Intent(name="dataset", args={"path": upload}, source="upload") if upload and intent.name == "chat" else intent
        answer = upload or self._answer(pending.missing, message.text)
        return Intent(name=pending.intent.name, args={**pending.intent.args, pending.missing: answer}, source="followup")

    def _answer(self, field: str, text: str) -> str:
        """The value a follow-up answer gives for `field`."""
        value = None
        if field == "dataset":
            value = find_dataset(text.lower())
        elif field in ("persona", "adapter", "job"):
            value = find_persona(text.lower(), self._personas())
        return value or text.strip().strip("\"'").split("\n")[0]

    # --- dispatch ----------------------------------------------------------------------------------

    def _dispatch(self, intent: Intent, message: IncomingMessage, session: Session, requester: Requester) -> Reply:
        name = dispatch.INTENT_SKILLS.get(dispatch.intent_key(intent))
        if name is None or name not in self.registry:
            missing = self._missing(intent, None, message.channel)
            return self._ask(intent, missing, session) if missing else dispatch.not_installed(intent, name or intent.name)
        skill = self.registry.get(name)
        fitted = dispatch.fit_args(intent.args, skill, message.channel)
        missing = self._missing(intent, fitted, message.channel)
        if missing:
            return self._ask(intent, missing, session)
        ctx = SkillContext(settings=self.settings, requester=requester)
        try:
            result = dispatch.run_skill(self.registry, name, fitted, ctx)
        except SelftuneError as exc:  # understood, but it failed: keep the intent, say why
            return Reply(text=str(exc), intent=intent.name, args=intent.args, ok=False)
        job_id = result.get("job_id") if isinstance(result, dict) else None
        return Reply(text=dispatch.describe_result(intent.name, result), intent=intent.name, args=intent.args, job_id=job_id)

    def _missing(self, intent: Intent, fitted: dict[str, Any] | None, channel: str) -> str | None:
        """The first argument to ask for: the intent's own needs first, then the skill's required ones."""
        for field in dispatch.REQUIRED.get(intent.name, []):
            if not intent.args.get(field):
                return field
        if fitted is None:
            return None
        skill = self.registry.get(dispatch.INTENT_SKILLS[dispatch.intent_key(intent)])
        missing = dispatch.missing_skill_args(skill, fitted)
        return missing[0] if missing else None

    def _ask(self, intent: Intent, field: str, session: Session) -> Reply:
        session.pending = Pending(intent=intent, missing=field)
        return Reply(text=dispatch.question(field, self._options(field)), intent=intent.name, args=intent.args)

    def _options(self, field: str) -> str:
        if field == "persona":
            known = self._personas()
            return f" I know: {', '.join(known)}." if known else ""
        if field == "dataset":
            channels = self._consented_channels()
            return f"I can use {', '.join(channels)}, or " if channels else ""
        return ""

    # --- chat --------------------------------------------------------------------------------------

    def _chat(self, message: IncomingMessage, session: Session, requester: Requester) -> Reply:
        adapter_provider = persona_switch.provider_for(self.settings, session.persona)
        provider = adapter_provider or self.provider
        turn = LLMTurn(provider, self.registry, SkillContext(settings=self.settings, requester=requester), self.limits)
        try:
            reply = turn.run(session.messages_for(message.text))
            if adapter_provider is not None:
                reply.args = {**reply.args, "persona": session.persona, "adapter": adapter_provider.adapter_id}
            return reply
        except ProviderUnavailable as exc:
            return Reply(text=followups()["offline"].format(reason=str(exc).rstrip(".")), intent="chat",
                         args={"offline": True})

    def _help(self) -> str:
        installed = sorted(s.name for s in self.registry.all())
        tools = f"\nInstalled skills: {', '.join(installed)}." if installed else "\nNo skills are installed yet."
        return prompt("help.md") + tools

    # --- hooks and lookups -------------------------------------------------------------------------

    def _personas(self) -> list[str]:
        try:
            return list_personas(self.settings.workspace_dir)
        except OSError:
            return []

    def _persona_prompt(self, channel: str) -> str | None:
        for name in self._personas():
            try:
                persona = load_persona(self.settings.workspace_dir, name)
            except SelftuneError:
                continue
            if channel in persona.channels or f"#{channel}" in persona.channels:
                return persona.system_prompt
        return None

    def _consented_channels(self) -> list[str]:
        """Channels that opted in to collection, when the memory package provides them."""
        try:
            from memory.consent import consented_channels  # type: ignore[attr-defined]
        except ImportError:
            return []
        try:
            return [f"#{c}" for c in consented_channels(self.settings)]
        except Exception:
            log.warning("cannot list consented channels", exc_info=True)
            return []

    def _log(self, message: IncomingMessage, reply: Reply) -> None:
        if self.log_hook is None:
            return
        try:
            self.log_hook(message, reply)
        except Exception:  # logging a conversation must never lose the reply
            log.warning("conversation log hook failed", exc_info=True)


def _refer_to_last_persona(intent: Intent, session: Session) -> None:
    """'export it', 'roll it back': the persona the channel last named; remember the one named now."""
    key = "persona" if intent.name == "tune" else "adapter"
    if intent.name in ("tune", "eval", "export", "rollback"):
        if intent.args.get(key):
            session.last_persona = intent.args[key]
        elif session.last_persona and intent.name != "tune":
            intent.args[key] = session.last_persona


def _dataset_upload(message: IncomingMessage) -> str | None:
    for attachment in message.attachments:
        if attachment.filename.lower().endswith(DATASET_EXTENSIONS):
            return str(attachment.path)
    return None


DISCORD_MAX_CHARS = 4000  # Discord's own ceiling (2000, or 4000 with Nitro)


def refuse_too_long(message: IncomingMessage, settings: Settings) -> Reply | None:
    """A refusal for a message longer than agent.max_message_chars (Discord: its own limit too), else None."""
    limit = settings.agent.max_message_chars
    if message.transport == "discord":
        limit = min(limit, DISCORD_MAX_CHARS)
    if len(message.text) <= limit:
        return None
    return Reply(text=f"That message is {len(message.text):,} characters long, more than the {limit:,} I accept; "
                 "send a shorter one, or put long text in a file and attach it.", intent="error", ok=False)
