"""Follow a long job in Discord: one thread per job, ONE progress message edited at most every
`settings.discord.progress_edit_interval_s` (Discord rate-limits edits), then a final message with
the report PNG, before/after samples and buttons to export or promote."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import discord

from agent.discord_bot.views import final_view, running_view
from skills.jobs.format import duration as format_eta  # the one duration formatter

log = logging.getLogger(__name__)
BAR_WIDTH = 20
TERMINAL = {"done", "error", "failed", "cancelled", "succeeded"}


def as_event(raw: Any) -> dict[str, Any]:
    """A job event as a plain dict with its kind under 'event' (accepts dicts and pydantic models)."""
    data = raw.model_dump() if hasattr(raw, "model_dump") else dict(raw)
    if "event" not in data:
        data["event"] = data.get("kind") or data.get("type") or data.get("state") or "message"
    payload = data.get("data") or data.get("payload")
    if isinstance(payload, dict):  # stores may nest the worker's fields
        data = {**payload, **{k: v for k, v in data.items() if k not in ("data", "payload")}}
    return data


def progress_bar(step: int, total: int | None) -> str:
    """A text bar like `[██████░░░░] 60%`."""
    if not total:
        return f"step {step}"
    share = min(max(step / total, 0.0), 1.0)
    filled = round(share * BAR_WIDTH)
    return f"`[{'█' * filled}{'░' * (BAR_WIDTH - filled)}]` {share:.0%}"


@dataclass
class JobView:
    """What is known about a job so far, built from its events."""

    job_id: str
    title: str
    persona: str | None = None
    step: int = 0
    max_steps: int | None = None
    loss: float | None = None
    eta_s: float | None = None
    note: str = "queued"
    losses: list[tuple[int, float]] = field(default_factory=list)
    eval_losses: list[tuple[int, float]] = field(default_factory=list)
    final: dict[str, Any] | None = None

    def apply(self, event: dict[str, Any]) -> None:
        """Fold one event into the view."""
        kind = event["event"]
        if kind == "start":
            self.max_steps, self.note = event.get("max_steps") or self.max_steps, "running"
        elif kind == "progress":
            self._apply_progress(event)
        elif kind == "eval" and event.get("eval_loss") is not None:
            self.eval_losses.append((int(event.get("step", self.step)), float(event["eval_loss"])))
        elif kind in ("message", "checkpoint"):
            self.note = event.get("message") or f"checkpoint at step {event.get('step')}"
        if kind in TERMINAL:
            self.final = event

    def _apply_progress(self, event: dict[str, Any]) -> None:
        self.step = int(event.get("step", self.step))
        self.max_steps = event.get("max_steps") or self.max_steps
        self.eta_s = event.get("eta_s", self.eta_s)
        self.note = "running"
        if event.get("loss") is not None:
            self.loss = float(event["loss"])
            self.losses.append((self.step, self.loss))

    def render(self) -> str:
        """The progress message's text."""
        loss = f"{self.loss:.4f}" if self.loss is not None else "–"
        total = f"/{self.max_steps}" if self.max_steps else ""
        return (
            f"**{self.title}** — {self.note}\n{progress_bar(self.step, self.max_steps)}\n"
            f"step {self.step}{total} · loss {loss} · ETA {format_eta(self.eta_s)}"
        )


class ThrottledMessage:
    """One Discord message whose edits are spaced at least `interval_s` apart; the latest text wins."""

    def __init__(self, message: discord.Message, interval_s: float, clock: Callable[[], float] = time.monotonic):
        self.message, self.interval_s, self.clock = message, interval_s, clock
        self._last_edit = clock()
        self._shown = message.content
        self._wanted = message.content
        self._flusher: asyncio.Task[None] | None = None

    def update(self, text: str) -> None:
        """Ask for `text` to be shown; the edit happens now or when the interval allows."""
        self._wanted = text
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_later())

    async def _flush_later(self) -> None:
        await asyncio.sleep(max(0.0, self._last_edit + self.interval_s - self.clock()))
        if self._wanted != self._shown:
            text = self._wanted
            self._last_edit = self.clock()
            self.message = await self.message.edit(content=text)
            self._shown = text

    async def settle(self, text: str | None = None, view: discord.ui.View | None = None, *,
                     skip_same: bool = False) -> None:
        """Show the final text (respecting the interval) and stop editing; `skip_same`: no edit when it shows."""
        if text is not None:
            self._wanted = text
        if self._flusher is not None:
            await self._flusher
        if skip_same and view is None and self._wanted == self._shown:
            return
        await asyncio.sleep(max(0.0, self._last_edit + self.interval_s - self.clock()))
        self._last_edit = self.clock()
        self.message = await self.message.edit(content=self._wanted, view=view)
        self._shown = self._wanted


async def open_job_thread(
    channel: discord.abc.Messageable, origin: discord.Message | None, name: str
) -> discord.abc.Messageable:
    """A thread for the job (on the user's message when there is one); DMs get the channel itself."""
    try:
        if origin is not None and origin.guild is not None:
            return await origin.create_thread(name=name[:100])
        if isinstance(channel, discord.TextChannel):
            return await channel.create_thread(name=name[:100], type=discord.ChannelType.public_thread)
    except discord.HTTPException as exc:  # no permission to create threads: keep going in the channel
        log.warning("cannot open a thread for %s: %s", name, exc)
    return channel


async def follow_job(
    events: AsyncIterator[Any], thread: discord.abc.Messageable, job: JobView, interval_s: float,
    finish: Callable[[JobView], Any],
) -> discord.Message:
    """Edit one progress message from the job's events; on a terminal event post the final message."""
    throttled = ThrottledMessage(await thread.send(job.render(), view=running_view(job.job_id)), interval_s)
    async for raw in events:
        job.apply(as_event(raw))
        if job.final is not None:
            break
        throttled.update(job.render())
    if job.final is None:
        job.final = {"event": "error", "message": "the job's event stream ended without a result"}
    await throttled.settle(job.render() if job.final.get("event") in ("done", "succeeded") else None)
    return await finish(job)


def report_png(job: JobView, out_dir: Path) -> Path | None:
    """The job's own report PNG if it made one, else a loss-curve PNG drawn from its events."""
    final = job.final or {}
    for key in ("report_png", "png", "plot"):
        if final.get(key) and Path(final[key]).is_file():
            return Path(final[key])
    adapter_dir = final.get("adapter_dir")
    if adapter_dir and Path(adapter_dir).is_dir():
        pngs = sorted(Path(adapter_dir).glob("*.png"))
        if pngs:
            return pngs[0]
    if not job.losses:
        return None
    return draw_loss_curve(job, out_dir / f"{job.job_id}-loss.png")


def draw_loss_curve(job: JobView, path: Path) -> Path:
    """Train (and eval) loss against step, as a small PNG (matplotlib, no display)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 3.2), dpi=100)
    ax = fig.add_subplot()
    ax.plot(*zip(*job.losses, strict=True), label="train loss")
    if job.eval_losses:
        ax.plot(*zip(*job.eval_losses, strict=True), marker="o", label="eval loss")
    ax.set(xlabel="step", ylabel="loss", title=job.title)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def final_text(job: JobView) -> str:
    """The closing message: outcome, metrics and before/after samples."""
    final = job.final or {}
    kind = final.get("event")
    if kind == "cancelled":
        return f"⏹️ **{job.title}** was cancelled at step {job.step}."
    if kind not in ("done", "succeeded"):
        return f"❌ **{job.title}** failed: {final.get('message') or 'no reason given'}"
    lines = [f"✅ **{job.title}** finished after {job.step} steps."]
    metrics = final.get("metrics") or {}
    shown = [f"{k.replace('_', ' ')} {v:.4f}" for k, v in metrics.items() if isinstance(v, float)]
    if shown:
        lines.append(" · ".join(shown))
    if final.get("adapter_dir"):
        lines.append(f"Adapter: `{Path(final['adapter_dir']).name}`")
    lines += [sample_text(s) for s in (final.get("samples") or [])[:3]]
    return "\n".join(lines)[:1900]


def sample_text(sample: dict[str, Any]) -> str:
    """One before/after sample as a short quote block."""
    return (
        f"> **{str(sample.get('prompt', ''))[:200]}**\n> before: {str(sample.get('before', ''))[:300]}\n"
        f"> after: {str(sample.get('after', ''))[:300]}"
    )


async def post_final(thread: discord.abc.Messageable, job: JobView, out_dir: Path) -> discord.Message:
    """Post the final message with the report PNG and export/promote buttons."""
    final = job.final or {}
    succeeded = final.get("event") in ("done", "succeeded")
    png = await asyncio.to_thread(report_png, job, out_dir) if succeeded else None
    files = [discord.File(png, filename=png.name)] if png else []
    view = final_view(final.get("adapter_dir"), job.persona) if files or final.get("adapter_dir") else None
    if view is None:
        return await thread.send(final_text(job), files=files)
    return await thread.send(final_text(job), files=files, view=view)
