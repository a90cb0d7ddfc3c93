"""Gated promotion: evaluate a candidate adapter against what its persona serves now and promote it only if
the gate passes (the same evaluation and gate the nightly retrain uses), or promote it without the gate
when an admin says so; either way the outcome says which of the two happened and why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from config.settings import Settings
from skills.evaluate.run import Progress


class Promotion(BaseModel):
    """What a promotion request did, with the sentence users read."""

    model_config = ConfigDict(extra="forbid")
    persona: str
    candidate: str
    against: str | None  # the adapter served before (None: the base model)
    promoted: bool
    gated: bool  # False when the gate was skipped on purpose ("promote anyway")
    reason: str

    def sentence(self) -> str:
        """One sentence: what now serves the persona, and whether the gate decided it."""
        kept = f"`{self.against}`" if self.against else "the base model"
        if not self.gated:
            return (f"`{self.candidate}` now serves the {self.persona} persona; the evaluation gate was skipped "
                    f"on purpose (it replaced {kept}).")
        if self.promoted:
            return f"`{self.candidate}` passed the evaluation gate and now serves the {self.persona} persona: {self.reason}"
        if self.candidate == self.against:
            return f"`{self.candidate}` already serves the {self.persona} persona; nothing changed."
        return (f"`{self.candidate}` was not promoted for the {self.persona} persona, which keeps {kept}: the "
                f"evaluation gate said {self.reason}")


def evaluate_against_served(settings: Settings, persona: str, candidate: str, served: str | None,
                            progress: Progress | None = None, data: Path | None = None) -> dict[str, Any]:
    """Evaluate `candidate` against `served` (or the base model) on `data` (default: the candidate's recorded
    eval split); the document includes the gate's verdict."""
    from skills.evaluate.run import evaluate_adapter

    # The embedded judge is the base model itself, a weak referee for its own adapter (measured: SmolLM2 and
    # Gemma 3 270M tell a right answer from a wrong one no better than a coin, docs/evaluation-judge.md), and asking
    # it costs minutes per gate on CPU: there the gate uses per-item held-out loss. A separately configured judge
    # (another provider) is asked, its calibration measured, and it decides only when found reliable.
    use_judge = settings.judge.provider != "local"
    if settings.executor.kind == "ray":  # the GPU box loads the weights; this host receives only the report
        from skills.jobs.heavy import evaluate_on_executor

        if progress:
            progress({"event": "message", "message": "evaluating as a job on the GPU box (executor ray)"})
        return evaluate_on_executor(settings, candidate, against=served, persona=persona, use_judge=use_judge,
                                    data=data)
    return evaluate_adapter(settings, candidate, against=served or "base", persona=persona, use_judge=use_judge,
                            progress=progress, data=data)


def gated_promote(settings: Settings, persona: str, candidate: str, progress: Progress | None = None) -> Promotion:
    """Promote `candidate` for `persona` only if it beats what the persona serves now."""
    from skills.personas import require_persona
    from skills.train import adapters

    require_persona(settings.workspace_dir, persona)
    candidate = adapters.get_adapter(settings, candidate).id
    current = adapters.served_adapter(settings, persona)
    served = current.id if current else None
    if served == candidate:
        return Promotion(persona=persona, candidate=candidate, against=served, promoted=False, gated=True,
                         reason="it is already served")
    verdict = evaluate_against_served(settings, persona, candidate, served, progress)["gate"]
    if verdict["promote"]:
        adapters.promote(settings, persona, candidate)
    return Promotion(persona=persona, candidate=candidate, against=served, promoted=bool(verdict["promote"]),
                     gated=True, reason=verdict["reason"])


def forced_promote(settings: Settings, persona: str, candidate: str) -> Promotion:
    """Promote `candidate` for `persona` without evaluating it (an admin's explicit choice)."""
    from skills.train import adapters

    current = adapters.served_adapter(settings, persona)
    adapters.promote(settings, persona, candidate)
    return Promotion(persona=persona, candidate=adapters.get_adapter(settings, candidate).id,
                     against=current.id if current else None, promoted=True, gated=False,
                     reason="promoted without the evaluation gate")


def promotion_target(settings: Settings, persona: str | None, adapter: str | None) -> tuple[str, str]:
    """(persona, adapter id): the adapter's own persona when only an id is given, the persona's newest adapter
    when only a persona is."""
    from config.errors import SelftuneError, UsageError
    from skills.personas import require_persona
    from skills.train.adapters import get_adapter, newest_adapter

    if adapter is not None and "/" in adapter:
        found = get_adapter(settings, adapter)
        persona = persona or found.persona
        adapter = found.id
    elif adapter is not None:  # "promote pirate": a persona's name where an adapter may stand
        persona, adapter = persona or adapter, None
    if persona is None:
        raise UsageError("Say which persona or adapter to promote, e.g. \u201cpromote pirate-lora/v2\u201d.")
    require_persona(settings.workspace_dir, persona)
    if adapter is None:
        newest = newest_adapter(settings, persona)
        if newest is None:
            raise SelftuneError(f"No adapter was trained for {persona} yet; train one first (`tune {persona}`).")
        adapter = newest.id
    return persona, adapter
