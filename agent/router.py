"""The Router: one entry point for every transport (terminal, CLI, Discord, voice).

Order for each message: rate limit → session of the channel → pending follow-up or intent resolution
(explicit command → grammar) → skill dispatch with the sender's permission (agent.dispatch), else an LLM
turn with tools whose trust follows the data in its context (agent.session, agent.llm_turn).
"""

from __future__ import annotations

import asyncio
import difflib
import logging
import re
import sqlite3
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from agent import confirm, persona_switch
from agent.auth import LOCAL_TRANSPORTS, RateLimiter, requester_for
from agent.dispatch import SUGGESTED, Dispatcher, Outcome, intent_of, skill_context
from agent.intents import Intent, find_data_sources, find_dataset, find_persona

if TYPE_CHECKING:
    from agent.sound_examples import Vocabulary
    from skills.voice import SecondGuess
from agent.llm_turn import Gate, LLMTurn, TurnLimits
from agent.prompts import followups, prompt
from agent.session import LogHook, RecallHook, Session
from agent.session_store import SessionStore
from config.errors import SelftuneError, report_internal_error
from config.messages import IncomingMessage, Reply, reply_kind
from config.settings import Settings
from skills import canary
from skills.context import Requester
from skills.personas import persona_for_channel
from skills.providers import Provider, ProviderUnavailable, get_provider
from skills.providers.base import TokenSink
from skills.registry import SkillRegistry, load_registry

log = logging.getLogger(__name__)
Progress = Callable[[dict[str, Any]], None]  # work before the reply reports here (e.g. synthetic rows made)
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
        self.dispatcher = Dispatcher(settings, self.registry)
        self._provider = provider
        self.recall = recall
        self.log_hook = log_hook
        self.limits = limits or TurnLimits(budget_s=2 * settings.llm.timeout_s, max_tokens=settings.llm.max_new_tokens,
                                           temperature=settings.llm.temperature)
        self.limiter = RateLimiter(settings.auth.rate_limit_per_minute)
        self.sessions: dict[str, Session] = {}
        self.store = SessionStore(settings)  # sessions outlive the process (selftune.db), for agent.session_ttl_s

    @property
    def provider(self) -> Provider:
        """The configured LLM provider chain, built on first use."""
        if self._provider is None:
            self._provider = get_provider(self.settings, "llm")
        return self._provider

    def session(self, channel: str, transport: str = "console") -> Session:
        """The Session of a channel: this process's, else the stored one, else a new one; idle past the TTL → new."""
        session = self.sessions.get(channel)
        expired = session is not None and time.time() - session.touched > self.settings.agent.session_ttl_s
        if session is None or expired:
            bound = persona_for_channel(self.settings.workspace_dir, channel)
            session = Session(channel, persona_prompt=bound.system_prompt if bound else None, recall=self.recall)
            stored = None if expired else self.store.load(transport, channel)  # the stored copy is as old
            if stored:
                session.restore(stored)
            if session.persona is None and bound is not None:  # a bound channel answers as its persona (adapter too)
                session.persona = bound.name
            self.sessions[channel] = session
        return session

    def _save(self, session: Session, transport: str, reply: Reply) -> None:
        """Keep what the conversation needs for its next message, in this process and in selftune.db."""
        if reply.job_id:
            session.last_job = reply.job_id
        session.touched = time.time()
        self.store.save(transport, session.channel, session.state())

    def handle(self, message: IncomingMessage, progress: Progress | None = None,
               on_token: TokenSink | None = None) -> Reply:
        """Answer one message; expected failures become a one-sentence reply, never a traceback.

        `on_token` hears a plain chat answer as the model writes it (a voice note's "Heard" line first); the
        returned Reply is complete either way, and command, tool and question turns are not streamed.
        """
        refusal = refuse_too_long(message, self.settings)
        if refusal is not None:  # before any session, memory or model work, and never logged
            return refusal
        session = self.session(message.channel, message.transport)
        heard = None
        try:
            message, heard, ask_first = self._transcribe_voice(message)
            reply, quotes_data = self._settle(message, session) or self._handle(
                message, session, progress, spoken=bool(heard) or message.spoken,
                on_token=_after_heard(on_token, heard), ask_first=ask_first)
        except SelftuneError as exc:  # its sentence may quote data (a file's line, a job's message)
            reply, quotes_data = Reply(text=str(exc), intent="error", ok=False), True
        except Exception as exc:
            text = report_internal_error(log, exc, f"handling a message in {message.channel}")
            reply, quotes_data = Reply(text=text, intent="error", ok=False), False
        if heard:  # a voice command does what the same typed text would; the reply shows what was heard
            reply = reply.model_copy(update={"transcript": heard, "text": heard_line(heard) + reply.text})
        session.remember(message.text, reply.text, author=message.user, reply_quotes_data=quotes_data,
                         chat=reply_kind(reply) == "chat")
        self._save(session, message.transport, reply)
        self._log(message, reply)
        return reply

    def awaits_answer(self, transport: str, channel: str, user: str) -> bool:
        """Whether `user` has a confirmation open in `channel` (so a bare "yes" there is meant for us)."""
        pending = self.session(channel, transport).confirm
        return pending is not None and pending.user == user

    def press(self, message: IncomingMessage, token: str, yes: bool) -> Reply:
        """A Confirm/Cancel button: settle the confirmation it was made for, if it is still the sender's."""
        session = self.session(message.channel, message.transport)
        pending = session.confirm
        if pending is None or pending.token != token or pending.user != message.user:
            return Reply(text="That question is no longer open (answered, replaced or expired), or it was not yours; "
                              "nothing was done.", intent="confirm", ok=False)
        try:
            outcome = self._settle(message.model_copy(update={"text": "yes" if yes else "no"}), session)
            reply = outcome.reply if outcome else Reply(text="Nothing was pending.", intent="confirm", ok=False)
        except SelftuneError as exc:
            reply = Reply(text=str(exc), intent="error", ok=False)
        self._save(session, message.transport, reply)
        return reply

    def _settle(self, message: IncomingMessage, session: Session) -> Outcome | None:
        """The sender's answer to their own pending confirmation: yes runs it, anything else drops it."""
        pending = session.confirm
        if pending is None or pending.user != message.user:
            return None
        session.confirm = None
        answer = confirm.answer_of(message.text)
        if answer is None:  # they moved on: the question lapses and the message is handled as usual
            return None
        if not answer:
            return Outcome(Reply(text="OK, I did nothing.", intent=pending.intent.name, args=pending.intent.args), False)
        if pending.skill == SUGGESTED:  # "Did you mean …?": yes handles the command as if it had been heard right
            return self._run_intent(pending.intent, message, session, requester_for(self.settings, message))
        return self.dispatcher.confirmed(pending, requester_for(self.settings, message))

    def _transcribe_voice(self, message: IncomingMessage) -> tuple[IncomingMessage, str | None, bool]:
        """A message that is only a voice note becomes its transcript (local Whisper); and whether a command in it
        is to be asked about first (the words came from a decode primed with the commands)."""
        from skills.voice import is_audio_file, persona_names, transcribe_file

        audio = next((a for a in message.attachments if is_audio_file(a.filename, a.content_type)), None)
        if audio is None or message.text.strip():
            return message, None, False
        heard = transcribe_file(audio.path, self.settings, persona_names(self.settings), self.heard_command,
                                self.second_guess())
        return message.model_copy(update={"text": heard.text}), heard.text, heard.ask_first

    def second_guess(self) -> SecondGuess | None:
        """How a spoken command attempt the matcher is unsure of is heard again (voice.second_decode): primed with
        the declared command phrasings, the surer command of the two transcripts kept."""
        from agent.fuzzy_intents import second_guess

        if not self.settings.voice.second_decode:
            return None
        return second_guess(self.settings.voice, self.dispatcher.grammar, self.vocabulary())

    def heard_command(self, transcript: str) -> bool:
        """Whether a voice transcript is a clear command: the exact grammar reads one (else Whisper hears the clip
        again in its full window, and the tolerant matcher works on that transcript, the one it was tuned on)."""
        return self.dispatcher.grammar.resolve(transcript, self.dispatcher.personas()).name != "chat"

    async def ahandle(self, message: IncomingMessage, progress: Progress | None = None,
                      on_token: TokenSink | None = None) -> Reply:
        """handle() off the event loop (model calls and skills block); `progress` and `on_token` are called
        from that thread."""
        return await asyncio.to_thread(self.handle, message, progress, on_token)

    def _handle(self, message: IncomingMessage, session: Session, progress: Progress | None = None, *,
                spoken: bool = False, on_token: TokenSink | None = None, ask_first: bool = False) -> Outcome:
        """The reply, and whether its text quotes data (so later turns treat it as untrusted)."""
        requester = requester_for(self.settings, message)
        if message.transport not in LOCAL_TRANSPORTS:
            wait = self.limiter.check(f"{message.transport}:{message.user}")
            if wait:
                return Outcome(Reply(text=f"You're sending messages too fast; try again in {wait:.0f} s.",
                                        intent="rate_limited"), False)
        intent = self._intent(message, session)
        if intent is None:
            return Outcome(Reply(text="OK, dropped it.", intent="chat"), False)
        if spoken and intent.name == "chat":  # Whisper may have misheard a command: a tolerant second try
            return self._spoken_chat(message, session, requester, progress, on_token, ask_first)
        if ask_first and intent.skill:  # words a primed decode may have put there: a yes first
            from agent.fuzzy_intents import Guess

            return Outcome(self.dispatcher.suggest(Guess(intent, message.text.strip(), 1.0), session, message.user),
                           False)
        return self._run_intent(intent, message, session, requester, progress, on_token)

    def _spoken_chat(self, message: IncomingMessage, session: Session, requester: Requester,
                     progress: Progress | None, on_token: TokenSink | None, ask_first: bool = False) -> Outcome:
        """A transcript the grammar read as chat: the command it likely was (run when sure, "Did you mean" when
        unsure), "I heard … I didn't catch a command" when it was meant as one, else a chat answer that is never an
        echo of the model's own instructions."""
        from agent.fuzzy_intents import (  # the voice extra's rapidfuzz, jellyfish
            hear,
            looks_like_command,
            not_caught,
        )

        grammar, vocabulary = self.dispatcher.grammar, self.vocabulary()
        hearing = hear(message.text, vocabulary, self.settings.voice, grammar)
        if hearing.action == "run" and not ask_first:
            return self._run_intent(hearing.guesses[0].intent, message, session, requester, progress, on_token)
        if hearing.action in ("ask", "run"):
            return Outcome(self.dispatcher.suggest(hearing.guesses[0], session, message.user, *hearing.guesses[1:2]),
                           False)
        missed = Reply(text=not_caught(message.text, grammar, list(vocabulary.personas)), intent="chat",
                       args={"not_caught": True})
        if looks_like_command(message.text, vocabulary, grammar, hearing.nearest):
            return Outcome(missed, False)
        guard = EchoGuard(on_token)
        outcome = self._run_intent(Intent(), message, session, requester, progress, guard)
        if outcome.reply.intent == "chat" and outcome.reply.confirm is None and echoes_prompt(outcome.reply.text):  # a degenerate answer is never sent
            log.warning("a chat answer to a voice message echoed the prompt; sent the not-caught sentence instead")
            return Outcome(missed, False)
        guard.flush()  # a short answer that is no echo: what was held back goes out now
        return outcome

    def vocabulary(self) -> Vocabulary:
        """The names a spoken command may use: personas, adapter names, the newest job ids."""
        from agent.sound_examples import Vocabulary

        return Vocabulary(tuple(self.dispatcher.personas()), *_adapters_and_jobs(self.settings))

    def _run_intent(self, intent: Intent, message: IncomingMessage, session: Session, requester: Requester,
                    progress: Progress | None = None, on_token: TokenSink | None = None) -> Outcome:
        """Chat, help, a persona switch or a skill, for an understood intent."""
        if intent.name == "chat":
            return self._chat(message, session, requester, on_token)
        if intent.name == "help":
            return Outcome(Reply(text=self._help(), intent="help"), False)
        if intent.name == "persona":
            return Outcome(persona_switch.switch(self.settings, session, intent.args.get("persona")), False)
        outcome = self.dispatcher.dispatch(intent, message, session, requester, progress=progress)
        if outcome.reply.ok and intent.skill in self.registry and not self.registry.get(intent.skill).effect_free:
            session.persona_prompt = self._persona_prompt(session.channel)  # a card may have changed: use it next
        return outcome

    # --- intents -----------------------------------------------------------------------------------

    def _intent(self, message: IncomingMessage, session: Session) -> Intent | None:
        """The message's intent, continuing a pending follow-up when the message answers it."""
        if session.pending is not None and ABANDON.match(message.text):
            session.pending = None
            return None
        grammar = self.dispatcher.grammar
        if message.request is not None:  # a slash command or button: understood already, never re-parsed
            session.pending = None
            return grammar.understood(message.request.intent, message.request.args)
        intent = grammar.resolve(message.text, self.dispatcher.personas())
        upload = _dataset_upload(message)
        if upload and intent.name in ("chat", "tune"):
            session.last_dataset = upload
            if intent.name == "tune":
                intent.args.setdefault("dataset", upload)
        pending, session.pending = session.pending, None
        if pending is None or intent.name != "chat":
            return grammar.intent("dataset", {"path": upload}, "upload") if upload and intent.name == "chat" else intent
        answer = upload or self._answer(pending.missing, message.text)
        return pending.intent.model_copy(update={"args": {**pending.intent.args, pending.missing: answer},
                                                 "source": "followup"})

    def _answer(self, field: str, text: str) -> str:
        """The value a follow-up answer gives for `field`."""
        value = None
        if field == "dataset":
            value = find_data_sources(text.lower()) or find_dataset(text.lower())
        elif field in ("persona", "adapter", "job"):
            value = find_persona(text.lower(), self.dispatcher.personas())
        return value or text.strip().strip("\"'").split("\n")[0]

    # --- chat --------------------------------------------------------------------------------------

    def _chat(self, message: IncomingMessage, session: Session, requester: Requester,
              on_token: TokenSink | None = None) -> Outcome:
        # The served adapter answers, or a canary candidate for its share of turns (skills.canary).
        turn_id = message.message_id or f"{message.channel}:{message.user}:{time.time_ns()}"
        adapter_provider = persona_switch.adapter_provider(
            self.settings, session.persona, canary.adapter_for_turn(self.settings, session.persona, turn_id))
        provider = adapter_provider or self.provider
        # An adapter's answer speaks in the persona's voice; it is never offered tools (agent.llm_turn).
        turn = LLMTurn(provider, self.registry, skill_context(self.settings, requester, chosen_by_model=True), self.limits,
                       gate=self._gate(message, requester), offer_tools=adapter_provider is None)
        # An adapter answers in the voice it was trained with: its persona's system prompt, not the assistant's.
        voice = persona_switch.voice_of(self.settings, session.persona) if adapter_provider is not None else None
        prompt_ = session.prompt_for(message.text, author=message.user, voice=voice)
        try:
            reply = turn.run(prompt_.messages, untrusted=prompt_.untrusted, on_token=on_token)
        except ProviderUnavailable as exc:
            return Outcome(Reply(text=followups()["offline"].format(reason=str(exc).rstrip(".")), intent="chat",
                                    args={"offline": True}), False)
        if turn.state.proposed is not None:  # the model asked for an action that needs the user's yes
            skill, args, description = turn.state.proposed
            intent = Intent(name=intent_of(self.registry, skill), args={"skill": skill, **args}, source="llm", skill=skill)
            return Outcome(self.dispatcher.ask_confirmation(intent, skill, args, description, session, message.user), False)
        if reply_kind(reply) in ("chat", "degenerate"):  # the persona's words, never a copy of a command reply
            reply.text = session.without_command_echo(reply.text) or "(the model gave no answer)"
        if adapter_provider is not None:
            reply.args = {**reply.args, "persona": session.persona, "adapter": adapter_provider.adapter_id}
        # A model that read data may repeat it: its answer is data for the turns after this one.
        return Outcome(reply, bool(turn.state.untrusted))

    def _gate(self, message: IncomingMessage, requester: Requester) -> Gate:
        """For the model's tool calls: what a call will do when it needs the user's yes first (else None)."""
        def gate(skill: str, args: dict[str, Any]) -> str | None:
            if message.confirmed:
                return None
            check = confirm.check(self.settings, self.registry.get(skill), args, requester, chosen_by_model=True)
            return check.text if check.needed else None

        return gate

    def _help(self) -> str:
        count = len(self.registry.all())
        tools = (f"\n{count} skills are installed (`selftune skills list` names them)." if count
                 else "\nNo skills are installed yet.")
        return prompt("help.md") + "".join(_added_phrasings(self.registry)) + tools  # one Discord message

    # --- hooks and lookups -------------------------------------------------------------------------

    def _persona_prompt(self, channel: str) -> str | None:
        card = persona_for_channel(self.settings.workspace_dir, channel)
        return card.system_prompt if card else None

    def _log(self, message: IncomingMessage, reply: Reply) -> None:
        if self.log_hook is None:
            return
        try:
            self.log_hook(message, reply)
        except Exception:  # logging a conversation must never lose the reply
            log.warning("conversation log hook failed", exc_info=True)


def _added_phrasings(registry: SkillRegistry) -> list[str]:
    """Help lines for skills from packages and the workspace: their intent and first example, as declared."""
    return [f"- **{s.declaration.intent}** \u2014 \u201c{s.declaration.examples[0]}\u201d\n" for s in registry.all()
            if s.declaration.intent and s.declaration.examples and not s.origin.startswith("builtin")]


def heard_line(heard: str) -> str:
    """What a voice reply starts with: the transcript, so the sender sees what was understood."""
    return f"Heard: \u201c{heard}\u201d\n"


def _after_heard(on_token: TokenSink | None, heard: str | None) -> TokenSink | None:
    """`on_token` that shows a voice note's "Heard" line before the first word of the answer."""
    if on_token is None or not heard:
        return on_token
    first = [True]

    def sink(piece: str) -> None:
        if first[0]:
            first[0] = False
            on_token(heard_line(heard))
        on_token(piece)

    return sink


ECHO_CHARS = 24  # this many characters in a row from the model's own instructions: an echo, not an answer
GUARD_CHARS = 120  # a voice message's chat answer is held back this long before streaming, to catch an echo


def echoes_prompt(answer: str) -> bool:
    """Whether a chat answer repeats the model's instructions (the system prompt, the tool-calling preamble)
    instead of answering: small local models do that on short, odd input such as a misheard voice message."""
    from skills.providers.local import TOOLS_PREAMBLE

    said = " ".join(answer.lower().split())
    if not said.strip(" .!?\"'") or "tool_call" in said:
        return True
    for instructions in (prompt("system.md"), TOOLS_PREAMBLE):
        text = " ".join(instructions.lower().split())
        match = difflib.SequenceMatcher(None, said, text, autojunk=False).find_longest_match(0, len(said), 0, len(text))
        if match.size >= ECHO_CHARS:
            return True
    return False


class EchoGuard:
    """An `on_token` sink that holds a voice message's answer back until it is clearly not an echo of the prompt
    (then streams it); a short answer's pieces go out once the whole answer is known not to be one."""

    def __init__(self, sink: TokenSink | None) -> None:
        self.sink, self.held, self.open, self.blocked = sink, [], False, False

    def __call__(self, piece: str) -> None:
        if self.sink is None or self.blocked:
            return
        if self.open:
            self.sink(piece)
            return
        self.held.append(piece)
        if sum(map(len, self.held)) >= GUARD_CHARS:
            self.blocked = echoes_prompt("".join(self.held))
            if not self.blocked:
                self.flush()

    def flush(self) -> None:
        """Stream what was held: the answer is known not to echo the prompt (never after it was found to)."""
        if self.blocked:
            return
        self.open = True
        held, self.held = self.held, []
        for piece in held if self.sink is not None else []:
            self.sink(piece)


def _adapters_and_jobs(settings: Settings) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Adapter names and the ten newest jobs' ids and names (none when they cannot be read: a voice guess goes on without)."""
    from skills.jobs.store import JobStore
    from skills.train.adapters import list_adapters

    try:
        adapters = tuple(dict.fromkeys(a.name for a in list_adapters(settings)))
    except OSError:
        adapters = ()
    try:
        store = JobStore(settings)
        try:
            jobs = tuple(dict.fromkeys(word for j in store.list(limit=10) for word in (j.id, j.name)))
        finally:
            store.close()
    except (OSError, SelftuneError, sqlite3.Error):
        jobs = ()
    return adapters, jobs


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
