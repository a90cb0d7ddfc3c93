"""The jobs cog: /tune, /status, /cancel, /eval, /export; one thread per job with its progress message;
scheduled retrains (the real scheduler runs while the cog is loaded) reported where the persona lives."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Literal

import discord
from discord import app_commands
from discord.ext import commands

from agent.discord_bot import attachments as files
from agent.discord_bot import choices
from agent.discord_bot.answers import Answers
from agent.discord_bot.auth import needs
from agent.discord_bot.progress import JobView, follow_job, open_job_thread, post_final
from agent.discord_bot.services import BotServices
from agent.discord_bot.text import DISCORD_LIMIT, user_error_text
from config.errors import SelftuneError
from config.messages import Reply
from skills.personas import load_persona
from skills.scheduler import SchedulerService

log = logging.getLogger(__name__)


class JobFollower:
    """Follows jobs in the background: a thread per job, progress edits, the final report."""

    def __init__(self, services: BotServices) -> None:
        self.services = services
        self.tasks: set[asyncio.Task[Any]] = set()

    def follow(self, reply: Reply, channel: discord.abc.Messageable, origin: discord.Message | None) -> None:
        """Start following the job a reply started, in its own thread."""
        persona = reply.args.get("persona")
        title = f"{persona} · job {reply.job_id}" if persona else f"job {reply.job_id}"
        job = JobView(job_id=str(reply.job_id), title=title, persona=persona)
        task = asyncio.create_task(self.run_thread(job, channel, origin))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def run_thread(self, job: JobView, channel: discord.abc.Messageable, origin: discord.Message | None) -> None:
        """Thread + progress message + final report for one job; failures end in one sentence."""
        settings = self.services.settings
        thread = await open_job_thread(channel, origin, job.title)
        out_dir = settings.artifacts_dir / "reports" / "discord"
        try:
            await follow_job(self.services.jobs.follow(job.job_id), thread, job,
                             settings.discord.progress_edit_interval_s,
                             finish=lambda done: post_final(thread, done, out_dir))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await thread.send(f"I lost track of {job.title}: {user_error_text(exc)}")

    def stop(self) -> None:
        """Stop following (the jobs themselves keep running)."""
        for task in list(self.tasks):
            task.cancel()


class Jobs(commands.Cog):
    """Training jobs in Discord."""

    def __init__(self, bot: commands.Bot, services: BotServices, answers: Answers, follower: JobFollower,
                 *, run_schedules: bool = True) -> None:
        self.bot, self.services, self.answers, self.follower = bot, services, answers, follower
        self.run_schedules = run_schedules
        self.schedules: SchedulerService | None = None

    async def cog_load(self) -> None:
        """Run the persisted schedules while the bot runs (inside its event loop)."""
        if self.run_schedules:
            self.schedules = SchedulerService(self.services.settings, notify=self.on_retrain)
            self.schedules.start()

    async def cog_unload(self) -> None:
        """Stop the schedules and stop following jobs."""
        if self.schedules is not None:
            self.schedules.shutdown()
        self.follower.stop()

    def on_retrain(self, outcome: dict[str, Any]) -> None:
        """Scheduler callback (runs in a worker thread): post the outcome on the bot's loop."""
        asyncio.run_coroutine_threadsafe(self.post_retrain(outcome), self.bot.loop)

    async def post_retrain(self, outcome: dict[str, Any]) -> list[int]:
        """Say what a scheduled retrain did, and why, where the persona lives; returns the channel ids."""
        persona = outcome.get("persona") or ""
        # A notice that carries its own sentence (a canary's decision) says it as it is.
        text = outcome.get("sentence") or (f"Scheduled retrain of **{persona}**: {outcome.get('status', 'failed')} — "
                                           f"{outcome.get('reason', '')}")
        try:
            channels = load_persona(self.services.settings.workspace_dir, persona).channels
        except SelftuneError:
            channels = []
        posted = []
        for ref in channels:
            channel = self.bot.get_channel(int(ref)) if ref.isdigit() else None
            if channel is not None and hasattr(channel, "send"):
                await channel.send(text[:DISCORD_LIMIT])
                posted.append(channel.id)
        if not posted:
            log.info("retrain outcome for %s not posted (no Discord channel in its card): %s", persona, text)
        return posted

    @app_commands.command(name="tune", description="Fine-tune an adapter for a persona (long job, followed in a thread).")
    @app_commands.describe(persona="Persona card to train, e.g. pirate.", method="Training method.",
                           dataset="A .jsonl/.json dataset file to train on (optional).",
                           source="Or build the data: #channel, here, synthetic, synthetic:200, #channel+synthetic:200.")
    @app_commands.autocomplete(persona=choices.personas)
    @needs("train.submit")
    async def tune(self, interaction: discord.Interaction, persona: str,
                   method: Literal["lora", "qlora", "dpo", "kto", "full"] | None = None,
                   dataset: discord.Attachment | None = None, source: str | None = None) -> None:
        """Start a training job (acknowledged by `needs` first; a built dataset is previewed with Confirm/Cancel)."""
        path: Any = source.replace(" ", "") if source else None
        if dataset is not None:
            stored = await files.accept_dataset(interaction, dataset, self.services.settings,
                                                self.services.validate_dataset)
            path = str(stored.path)
        await self.answers.run_command(interaction, "tune", persona=persona, method=method, dataset=path)

    @app_commands.command(name="status", description="Show a job's state and progress (the latest job by default).")
    @app_commands.describe(job="Job id (leave empty for the latest).")
    @app_commands.autocomplete(job=choices.jobs)
    @needs("jobs.status")
    async def status(self, interaction: discord.Interaction, job: str | None = None) -> None:
        """A job's state."""
        await self.answers.run_command(interaction, "status", job=job)

    @app_commands.command(name="cancel", description="Cancel a running or queued job.")
    @app_commands.describe(job="Job id to cancel.")
    @app_commands.autocomplete(job=choices.jobs)
    @needs("jobs.cancel")
    async def cancel(self, interaction: discord.Interaction, job: str) -> None:
        """Cancel a job."""
        await self.answers.run_command(interaction, "cancel", job=job)

    @app_commands.command(name="eval", description="Evaluate an adapter against its base model.")
    @app_commands.describe(adapter="Adapter id, e.g. pirate/3.")
    @app_commands.autocomplete(adapter=choices.adapters)
    @needs("eval.run")
    async def evaluate(self, interaction: discord.Interaction, adapter: str) -> None:
        """Evaluate an adapter."""
        await self.answers.run_command(interaction, "eval", adapter=adapter)

    @app_commands.command(name="export", description="Export an adapter (merged weights, GGUF or an Ollama model).")
    @app_commands.describe(adapter="Adapter id, e.g. pirate/3.", to="Export target.")
    @app_commands.autocomplete(adapter=choices.adapters)
    @needs("export.run")
    async def export(self, interaction: discord.Interaction, adapter: str,
                     to: Literal["merged", "gguf", "ollama"] = "ollama") -> None:
        """Export an adapter."""
        await self.answers.run_command(interaction, "export", adapter=adapter, to=to)
