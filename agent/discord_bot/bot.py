"""The Discord bot: messages and mentions → Router per channel, slash commands, reactions as feedback,
dataset and voice attachments, job threads. Blocking work runs in threads; the event loop never waits."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from agent.discord_bot import attachments as files
from agent.discord_bot.auth import allows, role_names
from agent.discord_bot.progress import JobView, follow_job, open_job_thread, post_final
from agent.discord_bot.services import BotServices, route
from agent.discord_bot.store import BotStore, ReplyRecord
from agent.discord_bot.views import parse_custom_id
from config import errors
from config.errors import SelftuneError
from config.messages import Attachment, IncomingMessage, Reply
from config.settings import Settings

log = logging.getLogger(__name__)
RATINGS = {"👍": 1, "👎": -1}
DISCORD_LIMIT = 2000
MENTION = re.compile(r"<@!?(\d+)>")


def user_error_text(exc: BaseException) -> str:
    """One sentence for any failure: SelftuneError messages as they are, anything else as an error id."""
    return errors.user_error_text(exc, log, "in the Discord bot")


def split_text(text: str, limit: int = DISCORD_LIMIT) -> list[str]:
    """Cut a long answer into Discord-sized pieces, preferring line breaks."""
    pieces: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        cut = cut if cut > limit // 2 else limit
        pieces.append(text[:cut])
        text = text[cut:].lstrip("\n")
    return [*pieces, text] if text or not pieces else pieces


def command_text(intent: str, **args: Any) -> str:
    """An explicit command for the Router, e.g. `!tune persona=pirate method=qlora`."""
    parts = [f"{key}={value}" for key, value in args.items() if value not in (None, "")]
    return " ".join([f"!{intent}", *parts])


class SelftuneBot(commands.Bot):
    """selftune in Discord; everything it calls comes in through `services`."""

    def __init__(self, settings: Settings, services: BotServices, *, store: BotStore | None = None,
                 intents: discord.Intents | None = None) -> None:
        if intents is None:
            intents = discord.Intents.default()
            intents.message_content = True  # privileged: enable "Message Content Intent" in the portal
        super().__init__(command_prefix=commands.when_mentioned, intents=intents, help_command=None)
        self.settings = settings
        self.services = services
        self.store = store or BotStore(settings)
        self.job_tasks: set[asyncio.Task[Any]] = set()
        self.scheduler: Any = None  # a SchedulerService, set by run_bot; tests leave it off
        self.tree.on_error = self.on_app_command_error  # type: ignore[method-assign]
        from agent.discord_bot.slash import install

        install(self)

    async def setup_hook(self) -> None:
        """Sync slash commands to the configured guilds (globally only when asked); start the schedules."""
        await self.sync_commands()
        if self.scheduler is not None:
            self.scheduler.start()

    def on_retrain(self, outcome: dict[str, Any]) -> None:
        """Scheduler callback (runs in a worker thread): post the outcome in the persona's channels."""
        asyncio.run_coroutine_threadsafe(self.post_retrain(outcome), self.loop)

    async def post_retrain(self, outcome: dict[str, Any]) -> list[int]:
        """Say what a scheduled retrain did, and why, where the persona lives; returns the channel ids."""
        from skills.personas import load_persona

        persona = outcome.get("persona") or ""
        text = f"Scheduled retrain of **{persona}**: {outcome.get('status', 'failed')} — {outcome.get('reason', '')}"
        try:
            channels = load_persona(self.settings.workspace_dir, persona).channels
        except SelftuneError:
            channels = []
        posted = []
        for ref in channels:
            channel = self.get_channel(int(ref)) if ref.isdigit() else None
            if channel is not None and hasattr(channel, "send"):
                await channel.send(text[:DISCORD_LIMIT])
                posted.append(channel.id)
        if not posted:
            log.info("retrain outcome for %s not posted (no Discord channel in its card): %s", persona, text)
        return posted

    async def sync_commands(self) -> list[str]:
        """Push slash commands to Discord; returns where they were synced."""
        synced = []
        for guild_id in self.settings.discord.guild_ids:
            guild = discord.Object(id=guild_id)
            self.tree.copy_global_to(guild=guild)
            await self.tree.sync(guild=guild)
            synced.append(f"guild:{guild_id}")
        if self.settings.discord.global_sync:
            await self.tree.sync()
            synced.append("global")
        if not synced:
            log.warning("no discord.guild_ids configured and global_sync is off: slash commands are not synced")
        return synced

    async def close(self) -> None:
        """Stop following jobs, then disconnect."""
        for task in list(self.job_tasks):
            task.cancel()
        if self.scheduler is not None:
            self.scheduler.shutdown()
        await super().close()
        self.store.close()

    # --- messages -------------------------------------------------------------------------------
    def addressed(self, message: discord.Message) -> bool:
        """Whether a message is for us: a DM, a mention, a `!command`, a voice note (they cannot mention
        anyone), or a reply to one of our messages."""
        if message.guild is None or message.content.startswith("!"):
            return True
        if not message.content and any(files.kind_of(a) == "voice" for a in message.attachments):
            return True
        if self.user is not None and self.user in message.mentions:
            return True
        ref = message.reference.resolved if message.reference else None
        return isinstance(ref, discord.Message) and self.user is not None and ref.author.id == self.user.id

    def dm_refusal(self, message: discord.Message) -> str | None:
        """Why a DM is not answered under settings.discord.dm_policy, or None when it is."""
        policy = self.settings.discord.dm_policy
        if message.guild is not None or policy == "allow":
            return None
        if policy == "admins" and allows(self.settings, message.author, "admin"):
            return None
        return "I only answer direct messages from admins here; please talk to me in a server channel."

    def clean_text(self, message: discord.Message) -> str:
        """The message text without mentions of the bot."""
        me = self.user.id if self.user else None
        return MENTION.sub(lambda m: "" if int(m.group(1)) == me else m.group(0), message.content).strip()

    async def on_message(self, message: discord.Message) -> None:
        """Answer messages addressed to us, once each, even when a reconnect replays them."""
        if message.author.bot or not self.addressed(message):
            return
        if not await asyncio.to_thread(self.store.claim, message.id, message.channel.id):
            log.info("message %s already handled; ignoring the replay", message.id)
            return
        refusal = self.dm_refusal(message)
        if refusal:
            await message.channel.send(refusal)
            return
        try:
            async with message.channel.typing():
                await self.answer(message)
        except Exception as exc:  # every failure becomes one sentence in Discord
            await message.reply(user_error_text(exc), mention_author=False)

    async def answer(self, message: discord.Message) -> None:
        """Handle attachments, ask the router, post the reply (and follow any job it started)."""
        text = self.clean_text(message)
        stored, text = await self.take_attachments(message, text)
        if not text:
            return
        incoming = IncomingMessage(
            transport="discord", channel=str(message.channel.id), user=str(message.author.id), text=text,
            roles=role_names(message.author), attachments=stored, message_id=str(message.id),
            reply_to=str(message.reference.message_id) if message.reference else None,
        )
        reply = await route(self.services.router, incoming)
        sent = await self.deliver(message.channel, reply, reference=message)
        await self.remember(sent, reply, prompt=text, prompt_id=message.id, asker=message.author.id,
                            incoming=incoming)
        if reply.job_id:
            self.follow(reply, message.channel, origin=message)

    async def take_attachments(self, message: discord.Message, text: str) -> tuple[list[Attachment], str]:
        """Store dataset uploads and transcribe voice; returns the stored files and the text to route."""
        stored: list[Attachment] = []
        for attachment in message.attachments:
            kind = files.kind_of(attachment)
            if kind == "voice":
                heard = await files.transcribe_voice(attachment, self.settings, self.services.transcribe)
                await message.reply(f"🎙️ I heard: “{heard}”", mention_author=False)
                text = f"{text} {heard}".strip()
            elif kind == "dataset":
                dataset = await files.accept_dataset(message, attachment, self.settings,
                                                     self.services.validate_dataset)
                await message.reply(
                    f"📦 Stored `{attachment.filename}`: {dataset.rows} valid rows"
                    f"{f' ({dataset.format})' if dataset.format else ''}, sha256 `{dataset.sha256[:12]}`.",
                    mention_author=False)
                stored.append(Attachment(filename=attachment.filename, path=dataset.path,
                                         content_type=attachment.content_type, size=attachment.size))
        return stored, text

    async def deliver(
        self, channel: discord.abc.Messageable, reply: Reply, *, reference: discord.Message | None = None
    ) -> discord.Message:
        """Post a reply (split when long) with its file attachments; returns the last message sent."""
        pieces = split_text(reply.text or "…")
        attached = [discord.File(path, filename=path.name) for path in reply.attachments if path.is_file()]
        sent: discord.Message | None = None
        for index, piece in enumerate(pieces):
            last = index == len(pieces) - 1
            kwargs: dict[str, Any] = {"files": attached} if last and attached else {}
            if reference is not None and index == 0:
                sent = await reference.reply(piece, mention_author=False, **kwargs)
            else:
                sent = await channel.send(piece, **kwargs)
        assert sent is not None
        return sent

    async def remember(self, sent: discord.Message, reply: Reply, *, prompt: str, prompt_id: int | None,
                       asker: int | None, incoming: IncomingMessage | None = None) -> None:
        """Record which message answered which prompt, so reactions on it become feedback."""
        record = ReplyRecord(
            reply_id=sent.id, channel_id=sent.channel.id, prompt_message_id=prompt_id, asker_id=asker,
            prompt=prompt, reply=reply.text, intent=reply.intent, persona=reply.args.get("persona"),
        )
        await asyncio.to_thread(self.store.add_reply, record)
        if self.services.memory is not None and incoming is not None:
            await asyncio.to_thread(self.log_to_memory, incoming, reply, sent.id)

    def log_to_memory(self, incoming: IncomingMessage, reply: Reply, reply_id: int) -> None:
        """Log the exchange in memory under Discord's ids, so reactions can find the answer later."""
        try:
            self.services.memory.log_incoming(incoming)
            self.services.memory.log_reply(reply.text, to=incoming, persona=reply.args.get("persona"),
                                           message_id=str(reply_id))
        except Exception:  # memory must never cost the user their answer
            log.warning("could not log the exchange in memory", exc_info=True)

    # --- jobs -----------------------------------------------------------------------------------
    def follow(self, reply: Reply, channel: discord.abc.Messageable, origin: discord.Message | None) -> None:
        """Start following a job in its own thread (in the background)."""
        if self.services.jobs is None:
            log.warning("reply started job %s but no job feed is configured", reply.job_id)
            return
        persona = reply.args.get("persona")
        title = f"{persona} · job {reply.job_id}" if persona else f"job {reply.job_id}"
        job = JobView(job_id=str(reply.job_id), title=title, persona=persona)
        task = asyncio.create_task(self.run_job_thread(job, channel, origin))
        self.job_tasks.add(task)
        task.add_done_callback(self.job_tasks.discard)

    async def run_job_thread(self, job: JobView, channel: discord.abc.Messageable,
                             origin: discord.Message | None) -> None:
        """Thread + progress message + final report for one job; failures end in one sentence."""
        thread = await open_job_thread(channel, origin, job.title)
        out_dir = self.settings.artifacts_dir / "reports" / "discord"
        try:
            await follow_job(self.services.jobs.follow(job.job_id), thread, job,
                             self.settings.discord.progress_edit_interval_s,
                             finish=lambda done: post_final(thread, done, out_dir))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await thread.send(f"I lost track of {job.title}: {user_error_text(exc)}")

    # --- reactions ------------------------------------------------------------------------------
    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        """👍/👎 on one of our answers is stored as that user's feedback."""
        await self.rate(payload, RATINGS.get(str(payload.emoji)))

    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        """Taking the reaction back withdraws the feedback."""
        if str(payload.emoji) in RATINGS:
            await self.rate(payload, None, withdraw=True)

    async def rate(self, payload: discord.RawReactionActionEvent, rating: int | None, withdraw: bool = False) -> None:
        """Store or withdraw a rating on an answer of ours."""
        if (rating is None and not withdraw) or (self.user and payload.user_id == self.user.id):
            return
        if await asyncio.to_thread(self.store.reply, payload.message_id) is None:
            return  # not an assistant answer
        await asyncio.to_thread(self.store.set_feedback, payload.message_id, payload.user_id, rating)
        if rating is not None and self.services.memory is not None:
            await asyncio.to_thread(self.feedback_to_memory, payload.message_id, payload.user_id, rating)
        log.info("feedback %s on reply %s from %s", rating, payload.message_id, payload.user_id)

    def feedback_to_memory(self, reply_id: int, user_id: int, rating: int) -> None:
        """Hand a rating to memory, where it becomes a chosen/rejected pair for the persona."""
        try:
            self.services.memory.feedback(str(reply_id), f"discord:{user_id}", rating)
        except Exception:
            log.warning("could not store feedback on %s in memory", reply_id, exc_info=True)

    # --- buttons and slash errors ---------------------------------------------------------------
    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """Our buttons (custom id 'selftune:...'); slash commands go through the command tree."""
        if interaction.type != discord.InteractionType.component:
            return
        parsed = parse_custom_id(str((interaction.data or {}).get("custom_id", "")))
        if parsed is None:
            return
        try:
            text = await self.press(interaction, *parsed)
        except Exception as exc:
            text = user_error_text(exc)
        await respond(interaction, text, ephemeral=True)

    async def press(self, interaction: discord.Interaction, action: str, parts: list[str]) -> str:
        """Carry out a button: cancel a job, export or promote an adapter."""
        from agent.discord_bot.slash import require

        if action == "cancel" and parts:
            require(self.settings, interaction.user, "train")
            if self.services.jobs is None:
                return "Jobs are not available in this build."
            await asyncio.to_thread(self.services.jobs.cancel, parts[0])
            return f"Cancelling job {parts[0]}…"
        if action == "export" and parts:
            require(self.settings, interaction.user, "train")
            return (await self.ask(interaction, command_text("export", adapter=parts[0], to="ollama"))).text
        if action == "promote" and len(parts) >= 2 and self.services.promote is not None:
            require(self.settings, interaction.user, "admin")
            await asyncio.to_thread(self.services.promote, parts[0], parts[1])
            return f"`{parts[1]}` now serves the {parts[0]} persona."
        return "That button no longer does anything."

    async def ask(self, interaction: discord.Interaction, text: str) -> Reply:
        """Route a slash command or button press as an explicit command from the interaction's user."""
        incoming = IncomingMessage(
            transport="discord", channel=str(interaction.channel_id), user=str(interaction.user.id), text=text,
            roles=role_names(interaction.user), message_id=str(interaction.id),
        )
        return await route(self.services.router, incoming)

    async def on_app_command_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        """Any slash-command failure → one short ephemeral sentence; tracebacks only in the log."""
        original = getattr(error, "original", error)
        if isinstance(original, app_commands.CheckFailure) and not isinstance(original, SelftuneError):
            text = "You can't use that command here."
        else:
            text = user_error_text(original)
        await respond(interaction, text, ephemeral=True)


async def respond(interaction: discord.Interaction, text: str, *, ephemeral: bool = False) -> None:
    """Answer an interaction whether or not it was already acknowledged."""
    if interaction.response.is_done():
        await interaction.followup.send(text[:DISCORD_LIMIT], ephemeral=ephemeral)
    else:
        await interaction.response.send_message(text[:DISCORD_LIMIT], ephemeral=ephemeral)


async def run_bot(settings: Settings, services: BotServices | None = None) -> None:
    """Log in with the configured token and serve until stopped (discord.py reconnects by itself)."""
    token = settings.secret("discord_token")
    if not token:
        raise SelftuneError("No Discord token is configured; set SELFTUNE_DISCORD_TOKEN or discord_token_file.")
    services = services or BotServices.for_settings(settings)
    services.fill_defaults(settings)
    async with SelftuneBot(settings, services) as bot:
        from skills.scheduler import SchedulerService

        bot.scheduler = SchedulerService(settings, notify=bot.on_retrain)
        try:
            await bot.start(token, reconnect=True)
        except discord.LoginFailure:
            raise SelftuneError("Discord rejected the bot token; copy it again from the developer portal.") from None
        except discord.PrivilegedIntentsRequired:
            raise SelftuneError(
                "Discord refused the Message Content intent; enable it under Bot → Privileged Gateway Intents."
            ) from None
