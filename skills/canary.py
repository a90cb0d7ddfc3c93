"""An online A/B in the channel: a candidate adapter answers a share of a persona's chat turns before it may
replace the served one.

The canary lives in the workspace (`adapters/canary.toml`, one table per persona), so starting, promoting and
ending it are commits like every other change to what is served. Each chat turn draws which adapter answers
from the message's id (the same message always draws the same side), the log records the adapter that wrote
each answer, and at the deadline the people's 👍/👎 on both sides are compared with a bootstrap: better beyond
the noise → promoted, worse → ended, undecided → the served adapter stays. The decision is a scheduled job
(`scheduled_decision`, persisted with the other schedules), reported as one sentence in the persona's channels.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import tomlkit
from pydantic import BaseModel, ConfigDict, Field

from config.errors import UsageError
from config.settings import Settings, load_settings
from config.state import connect
from config.workspace import open_workspace
from memory.log import init_schema
from memory.preferences import rated_answers
from skills.evaluate.gate import bootstrap_difference

log = logging.getLogger(__name__)
CANARY = "adapters/canary.toml"
DECIDE_FUNC = "skills.canary:scheduled_decision"  # the textual reference the schedule store persists
BASE = "base"  # how the base model is written where an adapter id stands


class Canary(BaseModel):
    """A candidate serving a share of one persona's chat turns until a deadline."""

    model_config = ConfigDict(extra="forbid")
    persona: str
    adapter: str = Field(description="The candidate adapter id.")
    incumbent: str | None = Field(None, description="The adapter served when the canary started (None: the base model).")
    share: float = Field(gt=0, lt=1, description="Share of chat turns the candidate answers.")
    started: datetime
    deadline: datetime


class Comparison(BaseModel):
    """The people's verdicts on both sides of a canary."""

    candidate_rated: int
    candidate_liked: float
    incumbent_rated: int
    incumbent_liked: float
    difference: float = Field(description="Candidate's 👍 share minus the incumbent's.")
    noise: float = Field(description="Half-width of the difference's 95% bootstrap interval.")
    least: int = Field(description="The fewest rated answers on each side a decision may rest on.")

    @property
    def enough(self) -> bool:
        return min(self.candidate_rated, self.incumbent_rated) >= self.least

    @property
    def verdict(self) -> Literal["better", "worse", "undecided"]:
        if not self.enough:
            return "undecided"
        if self.difference > self.noise:
            return "better"
        return "worse" if -self.difference > self.noise else "undecided"


class Decision(BaseModel):
    """What the deadline decided, in one sentence for the persona's channel."""

    persona: str
    adapter: str
    outcome: Literal["promoted", "ended", "kept"]
    sentence: str
    comparison: Comparison

    def notification(self) -> dict[str, Any]:
        """The scheduler's notice: posted as `sentence` where the persona lives."""
        return {"persona": self.persona, "status": f"canary {self.outcome}", "reason": self.sentence,
                "sentence": self.sentence}


# --- reading and writing the canary file ---------------------------------------------------------------


def _document(settings: Settings) -> tomlkit.TOMLDocument:
    path = settings.workspace_dir / CANARY
    return tomlkit.parse(path.read_text(encoding="utf-8")) if path.is_file() else tomlkit.document()


def active(settings: Settings, persona: str) -> Canary | None:
    """The persona's running canary, or None."""
    table = _document(settings).get(persona)
    return Canary(persona=persona, **table.unwrap()) if table is not None else None


def running(settings: Settings) -> list[Canary]:
    """Every running canary."""
    doc = _document(settings)
    return [Canary(persona=name, **table.unwrap()) for name, table in doc.items()]


def _write(settings: Settings, persona: str, canary: Canary | None, message: str) -> str:
    """Set (or clear) the persona's canary and commit; returns the commit sha."""
    ws = open_workspace(settings)
    doc = _document(settings)
    doc.pop(persona, None)
    if canary is not None:
        fields = canary.model_dump(exclude={"persona"})
        doc[persona] = {k: v for k, v in fields.items() if v is not None}
    ws.write(CANARY, tomlkit.dumps(doc))
    return ws.commit(message, [CANARY])


# --- starting and serving --------------------------------------------------------------------------------


def start(settings: Settings, persona: str, adapter: str, *, share: float, days: float,
          now: datetime | None = None) -> Canary:
    """Let `adapter` answer `share` of the persona's chat turns for `days`, then decide (a workspace commit and a
    scheduled decision)."""
    from skills.personas import require_persona
    from skills.train.adapters import get_adapter, served_map

    require_persona(settings.workspace_dir, persona)
    info = get_adapter(settings, adapter)
    if info.persona not in (None, persona):
        raise UsageError(f"{info.id} was trained for {info.persona}, not {persona}; pick one of {persona}'s adapters.")
    if info.method == "full":
        raise UsageError(f"{info.id} is a full fine-tune; a canary serves a LoRA adapter beside the served one.")
    served = served_map(settings).get(persona)
    if served == info.id:
        raise UsageError(f"{persona} serves {info.id} already; a canary tries an adapter it does not serve yet.")
    if not 0 < share < 1:
        raise UsageError(f"The canary's share must be between 0 and 1 (e.g. 0.2), not {share:g}.")
    if days <= 0:
        raise UsageError(f"The canary must run for some time (e.g. --days 2), not {days:g} days.")
    begun = now or _now()
    canary = Canary(persona=persona, adapter=info.id, incumbent=served, share=share, started=begun,
                    deadline=begun + timedelta(days=days))
    _write(settings, persona, canary, f"canary {persona}: {info.id} answers {share:.0%} of chat turns against "
                                      f"{served or BASE} until {canary.deadline:%Y-%m-%d %H:%M} UTC")
    _schedule_decision(settings, canary)
    return canary


def adapter_for_turn(settings: Settings, persona: str | None, turn: str, now: datetime | None = None) -> str | None:
    """The adapter that answers this chat turn: the served one, or the canary's candidate for its share of turns
    (drawn from the turn's id, so a retried message draws the same side)."""
    from skills.train.adapters import served_map

    if persona is None:
        return None
    served = served_map(settings).get(persona)
    canary = active(settings, persona)
    if canary is None or canary.incumbent != served or (now or _now()) >= canary.deadline:
        return served  # no canary, one overtaken by a promotion or rollback, or one waiting for its decision
    return canary.adapter if _draw(persona, turn) < canary.share else served


def _now() -> datetime:
    """The clock the canary reads (one place, so a test can move it)."""
    return datetime.now(UTC)


def _draw(persona: str, turn: str) -> float:
    """A uniform number in [0, 1) fixed by the persona and the turn."""
    digest = hashlib.sha256(f"{persona}\0{turn}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


# --- deciding ---------------------------------------------------------------------------------------------


def compare(settings: Settings, canary: Canary) -> Comparison:
    """The 👍 share of each side's rated answers logged while the canary ran, and the difference's noise."""
    with contextlib.closing(connect(settings)) as conn:
        init_schema(conn)  # a canary nobody chatted with yet may meet a log that was never opened
        verdicts = rated_answers(conn, canary.persona, canary.started.timestamp(), canary.deadline.timestamp())
    mine = [float(liked) for adapter, liked in verdicts if adapter == canary.adapter]
    theirs = [float(liked) for adapter, liked in verdicts if adapter == canary.incumbent]
    difference, noise = bootstrap_difference(mine, theirs)
    return Comparison(candidate_rated=len(mine), candidate_liked=_share(mine), incumbent_rated=len(theirs),
                      incumbent_liked=_share(theirs), difference=difference, noise=noise,
                      least=settings.retrain.canary_min_ratings)


def _share(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def decide(settings: Settings, persona: str, now: datetime | None = None) -> Decision | None:
    """At or after the deadline: promote, end or keep, as the comparison says (None before the deadline)."""
    from skills.train.adapters import promote, served_map

    canary = active(settings, persona)
    if canary is None or (now or _now()) < canary.deadline:
        return None
    result = compare(settings, canary)
    evidence = _evidence(canary, result)
    if served_map(settings).get(persona) != canary.incumbent:
        outcome, sentence = "kept", (f"The canary of {canary.adapter} for {persona} ended: what {persona} serves "
                                     f"changed while it ran ({evidence}).")
    elif result.verdict == "better":
        promote(settings, persona, canary.adapter)
        outcome, sentence = "promoted", (f"{canary.adapter} now serves {persona}: people liked its answers more "
                                         f"than {canary.incumbent or 'the base model'}'s ({evidence}).")
    elif result.verdict == "worse":
        outcome, sentence = "ended", (f"The canary of {canary.adapter} for {persona} ended: people liked its "
                                      f"answers less ({evidence}); {canary.incumbent or 'the base model'} stays.")
    else:
        outcome, sentence = "kept", (f"The canary of {canary.adapter} for {persona} ended undecided ({evidence}); "
                                     f"{canary.incumbent or 'the base model'} stays served.")
    _write(settings, persona, None, f"canary {persona}: {outcome} {canary.adapter}\n\n{sentence}")
    log.info("%s", sentence)
    return Decision(persona=persona, adapter=canary.adapter, outcome=outcome, sentence=sentence, comparison=result)


def _evidence(canary: Canary, result: Comparison) -> str:
    if not result.enough:
        return (f"too few rated answers to tell: {result.candidate_rated} for it and {result.incumbent_rated} for "
                f"{canary.incumbent or 'the base model'}, and a decision needs {result.least} on each side")
    return (f"👍 {result.candidate_liked:.0%} of {result.candidate_rated} vs {result.incumbent_liked:.0%} of "
            f"{result.incumbent_rated}, difference {result.difference:+.0%} ± {result.noise:.0%}")


def stop(settings: Settings, persona: str) -> Canary:
    """End a running canary now without deciding (the served adapter stays)."""
    canary = active(settings, persona)
    if canary is None:
        raise UsageError(f"{persona} has no canary running; start one with `selftune adapters canary {persona} ADAPTER`.")
    _write(settings, persona, None, f"canary {persona}: stopped {canary.adapter} by hand")
    from apscheduler.jobstores.base import JobLookupError

    from skills.scheduler import schedule_store

    with schedule_store(settings) as scheduler, contextlib.suppress(JobLookupError):  # it ran already: nothing to undo
        scheduler.remove_job(decision_id(persona))
    return canary


# --- the scheduled decision --------------------------------------------------------------------------------


def decision_id(persona: str) -> str:
    return f"canary:{persona}"


def _schedule_decision(settings: Settings, canary: Canary) -> None:
    """Persist a one-off job at the deadline that decides the canary (replacing an earlier one)."""
    from apscheduler.triggers.date import DateTrigger

    from skills.scheduler import schedule_store

    kwargs = {"persona": canary.persona, "home": str(settings.home),
              "config": str(settings.config_file) if settings.config_file else None}
    with schedule_store(settings) as scheduler:
        scheduler.add_job(DECIDE_FUNC, DateTrigger(run_date=canary.deadline), id=decision_id(canary.persona),
                          name=f"canary decision for {canary.persona}", kwargs=kwargs, replace_existing=True)


def scheduled_decision(persona: str, home: str, config: str | None = None) -> dict[str, Any]:
    """The deadline's job: decide the canary and return the scheduler's notice."""
    settings = load_settings(Path(config) if config else None, home=Path(home))
    decision = decide(settings, persona)
    if decision is None:
        return {"persona": persona, "status": "skipped", "reason": "no canary is due"}
    return decision.notification()
