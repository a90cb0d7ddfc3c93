"""The evaluation pipeline: held-out loss, side-by-side samples, adherence, judge, forgetting, gate, report."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from config.errors import SelftuneError
from config.settings import Settings
from skills.evaluate import evaldata, forgetting, gate, heldout, judge, report
from skills.evaluate.adherence import adherence
from skills.evaluate.generate import generate_batch, prompt_of
from skills.evaluate.loading import load_with_adapters, use_variant
from skills.personas import Persona, load_persona
from skills.train.lookup import AdapterRef, resolve_adapter

log = logging.getLogger(__name__)
Progress = Callable[[dict[str, Any]], None]


DECODING = "greedy, no repetition penalty, no loop guard"


def eval_data_of(ref: AdapterRef, data: Path | None) -> Path:
    """The eval split: --data, else the manifest's recorded eval_dataset (else the training data, flagged)."""
    return evaldata.eval_and_train_files(ref.path, ref.manifest, data)[0]


def persona_of(settings: Settings, ref: AdapterRef, name: str | None) -> Persona | None:
    """The persona whose style the adapter should follow (explicit, else the manifest's), if any."""
    name = name or ref.manifest.get("persona")
    if not name:
        return None
    from config.workspace import open_workspace

    return load_persona(open_workspace(settings).path, name)


def _job_events(ref: AdapterRef, settings: Settings) -> list[dict[str, Any]]:
    """Training events for the loss curves: events.jsonl beside the adapter, else the job store."""
    path = ref.path / "events.jsonl"
    if path.is_file():
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    job_id = ref.manifest.get("job_id")
    if not job_id:
        return []
    from skills.jobs import JobManager
    return [dict(e) if not hasattr(e, "model_dump") else e.model_dump() for e in JobManager(settings).events(job_id)]


def _step(progress: Progress | None, message: str) -> None:
    log.info("eval: %s", message)
    if progress:
        progress({"event": "message", "message": message})


def evaluate_adapter(
    settings: Settings, adapter: str | Path, *, against: str | None = None, data: Path | None = None,
    persona: str | None = None, limit: int = 32, max_new_tokens: int = 48, use_judge: bool = True,
    out_dir: Path | None = None, progress: Progress | None = None, card: Persona | None = None,
    holdout: Path | None = None,
) -> dict[str, Any]:
    """Evaluate an adapter against its base (or another adapter); write the report and return it.

    `card` and `holdout` stand in for the workspace's persona card and evaluator-only file on a worker that has
    neither (the host ships them with the job)."""
    started = time.monotonic()
    ref = resolve_adapter(adapter, settings)
    other = resolve_adapter(against, settings) if against and against != "base" else None
    eval_file, train_file, source = evaldata.eval_and_train_files(ref.path, ref.manifest, data)
    rows = heldout.read_rows(eval_file, limit)
    # Compared against another adapter, the rows that one trained on stay out: they would flatter it.
    rows, against_seen = evaldata.unseen_by(rows, evaldata.train_file_of(other.path, other.manifest) if other else None)
    if not rows:
        raise SelftuneError(f"Every eval row in {eval_file} was in {other.name}'s training data, so the two cannot be "
                            "compared on data neither saw; pass eval data both never trained on with --data PATH.")
    card = card or persona_of(settings, ref, persona)
    _step(progress, f"loading {ref.name} on its base model")
    model, tok = load_with_adapters(settings, ref, other)
    against_variant = "against" if other else "base"
    doc: dict[str, Any] = {"adapter": ref.name, "adapter_path": str(ref.path),
                           "against": other.name if other else "base", "items": len(rows)}
    doc["persona"] = card.name if card else None  # the report's title names it
    doc["eval_data"] = evaldata.describe(eval_file, train_file, source)
    if other is not None:
        doc["eval_data"]["against_overlap"] = against_seen
    doc["heldout"] = _heldout(model, tok, rows, against_variant, progress)
    private = holdout or evaldata.holdout_file(settings.holdout_dir, doc["persona"])
    if private is not None:  # the evaluator-only set: measured as well, reported on its own
        doc["eval_data"]["holdout"] = evaldata.file_record(private)
        doc["holdout"] = _heldout(model, tok, heldout.read_rows(private, limit), against_variant, progress)
    prompts = [prompt_of(r, card.system_prompt if card else None) for r in rows]
    answers = _answers(model, tok, prompts, against_variant, max_new_tokens, progress)
    doc["decoding"] = DECODING  # unlike chat answers (Settings.llm), so the two adapters' own habits show
    doc["samples"] = [{"prompt": p[-1]["content"], "against": a, "candidate": c}
                      for p, a, c in zip(prompts, answers["against"], answers["candidate"], strict=True)]
    if card is not None:
        doc["adherence"] = {k: adherence(v, card.style) for k, v in answers.items()}
    doc["judge"] = _judge(settings, (model, tok), prompts, answers, progress) if use_judge else None
    doc["forgetting"] = _forgetting(settings, model, tok, progress, card.system_prompt if card else None)
    doc["gate"] = gate.decide(doc, min_rows=settings.eval.min_rows).model_dump()
    doc["seconds"] = round(time.monotonic() - started, 2)
    out = out_dir or settings.artifacts_dir / "reports" / f"{ref.path.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    doc["report"] = report.write_report(doc, out, _job_events(ref, settings))
    return doc


def _heldout(model: Any, tok: Any, rows: list, against_variant: str, progress: Progress | None) -> dict[str, Any]:
    _step(progress, f"held-out loss on {len(rows)} items")
    with use_variant(model, "candidate"):
        cand = heldout.item_losses(model, tok, rows)
    with use_variant(model, against_variant):
        other = heldout.item_losses(model, tok, rows)
    return {"candidate": heldout.summarize(cand), "against": heldout.summarize(other),
            "candidate_items": cand, "against_items": other}


def _answers(model: Any, tok: Any, prompts: list, against_variant: str, max_new: int, progress: Progress | None) -> dict[str, list[str]]:
    _step(progress, f"generating {len(prompts)} answers with and without the adapter")
    with use_variant(model, "candidate"):
        cand = generate_batch(model, tok, prompts, max_new_tokens=max_new)
    with use_variant(model, against_variant):
        other = generate_batch(model, tok, prompts, max_new_tokens=max_new)
    return {"candidate": cand, "against": other}


def _judge(settings: Settings, loaded: tuple[Any, Any], prompts: list, answers: dict[str, list[str]],
           progress: Progress | None) -> dict[str, Any]:
    """Both orders of every pair, then the judge's calibration: an unreliable judge is marked so, and the gate
    leaves it out. The default judge (local, no model named) is the served base this evaluation already holds."""
    cfg = settings.judge
    _step(progress, f"judging {len(prompts)} pairs (both orders, {cfg.method} verdicts)")
    if cfg.provider == "local" and cfg.model in (None, settings.base_model):
        from skills.evaluate.local_judge import LogprobJudge, TextJudge

        model, tok = loaded
        with use_variant(model, "base"):
            referee = (LogprobJudge if cfg.method == "logprob" else TextJudge)(model, tok)
            result = judge.judge_pairs(referee, prompts, answers["candidate"], answers["against"])
        name = f"local:{settings.base_model} (served base, {cfg.method})"
    else:
        referee, method = judge.judge_provider(settings), "text"
        if cfg.method == "logprob" and cfg.provider == "openai":  # llama.cpp's server and vLLM return top_logprobs
            from skills.evaluate.local_judge import ServedLogprobJudge

            referee, method = ServedLogprobJudge(referee.client, referee.model), "logprob"
        result = judge.judge_pairs(referee, prompts, answers["candidate"], answers["against"])
        name = f"{cfg.provider}:{cfg.model or settings.base_model} ({method})"
    calibrated = judge.calibrate(result, settings.eval.judge_max_position_bias, settings.eval.judge_max_disagreement)
    return {"judge": name, **calibrated}


def _forgetting(settings: Settings, model: Any, tok: Any, progress: Progress | None,
                system_prompt: str | None = None) -> dict[str, Any]:
    """The candidate's general ability against the base model's, also when it is compared with another adapter:
    measured against the served adapter, each promotion could lose up to the limit again, and a week of them
    compounds (the simulated week's fourth adapter had lost 55% of the base's accuracy, each step within 10%)."""
    items = forgetting.general_set(settings.eval.forgetting_items)
    _step(progress, f"forgetting check on {len(items)} general items, accuracy and instruction following "
                    "(candidate vs the base model)")
    with use_variant(model, "candidate"):
        cand = forgetting.measure(model, tok, items, system_prompt=system_prompt)
    with use_variant(model, "base"):
        base = forgetting.measure(model, tok, items, system_prompt=system_prompt)
    return forgetting.compare(base, cand, settings.eval.max_forgetting)


__all__ = ["evaluate_adapter", "SelftuneError"]
