"""The served adapter is watched: its 👍 rate in real use over the latest `improver.watch_window` rated answers
is compared with its own first window; a drop beyond the noise serves the adapter it replaced again (a
workspace commit, a journal entry) and the persona's channel hears one sentence. It runs with the regression
check after every nightly retrain and improver round, and on its own schedule (`install`), so an adapter the
nightly retrain promoted is covered as well as one the improver served.
"""

from __future__ import annotations

import logging

from pydantic import BaseModel

from config.settings import Settings
from improver import journal
from improver.journal import JournalEntry
from improver.regressions import Rollback, reserve
from skills.evaluate.gate import bootstrap_difference

log = logging.getLogger(__name__)


class Watch(BaseModel):
    """One served adapter's 👍 record in use: overall, in its first window and in its latest one."""

    persona: str
    adapter: str
    rated: int
    rate: float | None
    first_rate: float | None = None
    recent_rate: float | None = None
    window: int
    noise: float | None = None  # 95% half-width of the difference between the two windows' rates
    fell: bool = False

    def line(self) -> str:
        """How it is doing, in a few words (`adapters show`, `doctor`)."""
        if self.rate is None:
            return "no rated answers in use yet"
        said = f"👍 {self.rate:.0%} of {self.rated} rated answers in use"
        if self.recent_rate is None:
            return f"{said} (watched from {2 * self.window})"
        return (f"{said}; first {self.window}: {self.first_rate:.0%}, latest {self.window}: {self.recent_rate:.0%} "
                f"(noise ±{self.noise:.0%})")


def _share(flags: list[bool]) -> float:
    return sum(flags) / len(flags)


def watch_of(ratings: list[bool], persona: str, adapter: str, window: int) -> Watch:
    """The adapter's watch from its ratings, oldest first; it fell when the latest window's rate is below the first
    window's by more than the noise (the two windows do not overlap)."""
    found = Watch(persona=persona, adapter=adapter, rated=len(ratings), rate=_share(ratings) if ratings else None,
                  window=window)
    if len(ratings) < 2 * window:
        return found
    first, recent = ratings[:window], ratings[-window:]
    drop, noise = bootstrap_difference([float(f) for f in first], [float(r) for r in recent])  # two independent samples
    return found.model_copy(update={"first_rate": _share(first), "recent_rate": _share(recent),
                                    "noise": round(noise, 4), "fell": drop > noise})


def watches(settings: Settings, pairs: list[tuple[str, str]]) -> list[Watch]:
    """The watch of each (persona, adapter) from the conversation log's ratings."""
    from config.state import connect
    from memory.log import init_schema
    from memory.preferences import adapter_ratings

    if not pairs:
        return []
    conn = connect(settings)
    try:
        init_schema(conn)
        return [watch_of(adapter_ratings(conn, p, a), p, a, settings.improver.watch_window) for p, a in pairs]
    finally:
        conn.close()


def served_watches(settings: Settings) -> list[Watch]:
    """The watch of each persona's served adapter."""
    from skills.train.adapters import served_map

    return watches(settings, sorted(served_map(settings).items()))


def check_served(settings: Settings) -> list[Rollback]:
    """Serve the previous adapter again for each persona whose served adapter's 👍 rate fell beyond the noise."""
    return [done for w in served_watches(settings) if w.fell and (done := _roll_back(settings, w)) is not None]


def _roll_back(settings: Settings, watch: Watch) -> Rollback | None:
    """Undo the promotion that serves the watched adapter (what it replaced, maybe the base model, is served again).
    An adapter the improver served is the regression check's to re-measure and revert, not the watch's."""
    from skills.train.adapters import SERVED, live_promotion, rollback

    promotion = live_promotion(settings, watch.persona)
    if promotion is None or promotion[2] != watch.adapter:
        log.warning("the 👍 rate of %s for %s fell, but no promotion of it is in effect to undo", watch.adapter,
                    watch.persona)
        return None
    change = rollback(settings, watch.persona)
    back = f"`{change['to']}`" if change["to"] else "the base model"
    sentence = (f"I stopped serving `{watch.adapter}` for {watch.persona} and went back to {back}: its 👍 rate fell "
                f"from {watch.first_rate:.0%} of its first {watch.window} rated answers to {watch.recent_rate:.0%} of "
                f"the latest {watch.window}, more than the noise (±{watch.noise:.0%}).")
    entry = journal.record(settings, JournalEntry(
        target=f"adapter:{watch.persona}", files=[SERVED], verdict="rolled_back", generator="watch",
        baseline=watch.first_rate, candidate=watch.recent_rate, noise=watch.noise,
        delta=round((watch.recent_rate or 0) - (watch.first_rate or 0), 4), commit=change["commit"],
        reason=f"served adapter {watch.adapter}'s 👍 rate fell beyond the noise; now serving {change['to'] or 'base'}"))
    log.warning("%s", sentence)
    return Rollback(entry=entry, personas=[watch.persona], sentence=sentence, reserved=[reserve(settings, watch.persona)])
