"""Quality scores for training rows: a rubric through the configured judge plus cheap heuristics, 1-5 per row.

The judge ([judge] in selftune.toml, never the model being tuned) rates helpfulness, correctness and, when a
persona is given, persona fit; the row's score is their mean minus heuristic penalties (an answer without a word
scores 1; boilerplate such as "As an AI" or a looping answer costs points). `dataset score` writes the scores
beside the file (`<file>.scores.json`); `dataset filter` keeps the best rows; synthesis and harvest keep rows
scoring at least `min_score`. Every kept file's manifest records the scores and the judge.
"""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from config.errors import SelftuneError, UsageError
from config.repetition import repetition_cut
from config.settings import Settings
from skills.dataset.io import format_of, write_dataset
from skills.dataset.manifest import Source, file_sha256, read_manifest
from skills.dataset.quality import BOILERPLATE, answers

RUBRIC = (Path(__file__).parent / "prompts" / "score.md").read_text(encoding="utf-8")
CRITERIA = ("helpfulness", "correctness", "persona_fit")
NEUTRAL = 3.0  # a row whose rating the judge's reply did not give is neither kept nor dropped for it
PENALTIES = {"boilerplate": 1.5, "loop": 1.5}  # points off the judge's mean; an empty answer scores 1 outright
SCORES_SUFFIX = ".scores.json"
_RATING = re.compile(r'"?(helpfulness|correctness|persona_fit)"?\s*[:=]\s*([1-5])', re.I)
Progress = Callable[[dict[str, Any]], None]


class RowScore(BaseModel):
    """One row's rating: the final 1-5 score, the judge's criteria and the heuristics that cost points."""

    model_config = ConfigDict(extra="forbid")
    score: float = Field(ge=1, le=5, description="Final score: the criteria's mean minus penalties, within 1-5.")
    helpfulness: int | None = None
    correctness: int | None = None
    persona_fit: int | None = None
    penalties: list[str] = Field(default_factory=list, description="Heuristics that lowered the score.")
    judged: bool = Field(True, description="False when the judge's reply held no readable rating.")


class ScoreFile(BaseModel):
    """`<dataset>.scores.json`: the scores of one version (sha256) of a dataset file."""

    model_config = ConfigDict(extra="forbid")
    dataset: str
    dataset_sha256: str
    judge: str = Field(description="provider:model of the judge.")
    persona: str | None = None
    rows: list[RowScore]


# a digit 1-5 that is not part of a larger or decimal number ("10", "4.5"); a sentence's full stop may follow
SCORE = re.compile(r"score\W{0,3}([1-5])(?!\.?\d)", re.I)
OUT_OF_FIVE = re.compile(r"(?<!\d)(?<!\d\.)([1-5])\s*(?:/|out of)\s*5\b", re.I)
BARE = re.compile(r"(?<!\d)(?<!\d\.)([1-5])(?!\.?\d)")


def parse_score(text: str) -> int | None:
    """The judge's 1-5 score: 'Score: 4', '4/5', '4 out of 5' or a lone digit; None when there is none."""
    for pattern in (SCORE, OUT_OF_FIVE, BARE):
        match = pattern.search(text)
        if match:
            return int(match.group(1))
    return None


def heuristics(row: dict[str, Any]) -> list[str]:
    """Cheap checks of a row's answers: empty, boilerplate, looping."""
    texts = answers(row)
    if not texts or any(not re.search(r"\w", t) for t in texts):
        return ["empty"]
    found = ["boilerplate"] if any(BOILERPLATE.search(t.replace("\u2019", "'")) for t in texts) else []
    return found + (["loop"] if any(repetition_cut(t) is not None for t in texts) else [])


def parse_rating(text: str) -> dict[str, int]:
    """The criteria the judge rated ({} when its reply holds none): a JSON object, or 'name: N' pairs."""
    match = re.search(r"\{.*?\}", text, re.S)
    if match:
        try:
            data = json.loads(match.group(0))
            return {k: int(v) for k, v in data.items() if k in CRITERIA and isinstance(v, int) and 1 <= v <= 5}
        except (ValueError, AttributeError):
            pass
    rated = {name.lower(): int(value) for name, value in _RATING.findall(text)}
    if rated:
        return rated
    overall = parse_score(text)  # a judge that gave one score for the whole answer ("Score: 4", "4/5")
    return {"helpfulness": overall, "correctness": overall} if overall is not None else {}


def combine(rating: dict[str, int], penalties: list[str]) -> float:
    """The final score: mean of the rated criteria (NEUTRAL when none), minus penalties, within 1-5."""
    if "empty" in penalties:
        return 1.0
    base = statistics.fmean(rating.values()) if rating else NEUTRAL
    return round(min(5.0, max(1.0, base - sum(PENALTIES.get(p, 0.0) for p in penalties))), 2)


class Scorer:
    """Rates rows with one judge provider and an optional persona card's system prompt."""

    def __init__(self, judge: Any, name: str, persona_prompt: str | None = None) -> None:
        self.judge, self.name, self.persona_prompt = judge, name, persona_prompt

    def rate(self, row: dict[str, Any]) -> RowScore:
        """One row's score; a judge that fails raises one sentence naming [judge]."""
        penalties = heuristics(row)
        if "empty" in penalties:
            return RowScore(score=1.0, penalties=penalties)
        try:
            reply = self.judge.chat(self._messages(row), max_tokens=64, temperature=0.0)
        except SelftuneError:
            raise
        except Exception as exc:  # an HTTP or client failure: one sentence, not a traceback
            raise SelftuneError(f"The judge failed ({type(exc).__name__}: {exc}); check [judge] in selftune.toml.") from None
        rating = parse_rating(getattr(reply, "text", str(reply)))
        if not self.persona_prompt:
            rating.pop("persona_fit", None)
        return RowScore(score=combine(rating, penalties), penalties=penalties, judged=bool(rating), **rating)

    def rate_all(self, rows: list[dict[str, Any]], progress: Progress | None = None) -> list[RowScore]:
        """Every row's score, in order, reporting progress after each."""
        out = []
        for row in rows:
            out.append(self.rate(row))
            if progress:
                progress({"rows": len(out), "total": len(rows)})
        return out

    def _messages(self, row: dict[str, Any]) -> list[dict[str, str]]:
        turns = [*(row.get("prompt") or []), *(row.get("messages") or []), *(row.get("chosen") or [])]
        convo = "\n".join(f"[{m.get('role')}] {m.get('content') or ''}" for m in turns[:-1])
        persona = f"## Persona\n{self.persona_prompt}\n\n" if self.persona_prompt else "## Persona\n(none)\n\n"
        body = f"{persona}## Conversation\n{convo}\n\n## Final answer\n{answers(row)[-1]}\n\nRating (JSON):"
        return [{"role": "system", "content": RUBRIC}, {"role": "user", "content": body}]


def judge_scorer(settings: Settings, persona: str | None = None) -> Scorer:
    """A Scorer over the configured judge, with the persona card's prompt when a persona is named."""
    from skills.jobs.heavy import model_work_on_worker
    from skills.personas import load_persona
    from skills.providers import get_provider

    if settings.judge.provider == "local" and model_work_on_worker(settings):  # the bot host loads no weights
        raise UsageError("Scoring rows needs a judge this machine can ask, and model work runs on the GPU box here; "
                         "point [judge] at a served model (provider ollama or openai).")
    prompt = load_persona(settings.workspace_dir, persona).system_prompt if persona else None
    judge = f"{settings.judge.provider}:{settings.judge.model or settings.base_model}"  # unset: the served base
    return Scorer(get_provider(settings, role="judge"), judge, prompt)


class ScoreGate:
    """Keeps the rows scoring at least `min_score`: the hook synthesis and harvest call before writing."""

    def __init__(self, scorer: Scorer, min_score: float) -> None:
        if not 1 <= min_score <= 5:
            raise UsageError(f"--min-score is a score from 1 to 5, not {min_score:g}.")
        self.scorer, self.min_score = scorer, min_score

    def keep(self, rows: list[dict[str, Any]], progress: Progress | None = None) -> tuple[list[int], dict[str, Any]]:
        """Indexes of the rows to keep, and the Manifest fields recording their scores and the judge."""
        scores = [s.score for s in self.scorer.rate_all(rows, progress)]
        kept = [i for i, score in enumerate(scores) if score >= self.min_score]
        return kept, {"scores": [scores[i] for i in kept], "judge": self.scorer.name,
                      "score_filter": f"min-score {self.min_score:g}"}


def score_gate(settings: Settings, min_score: float | None, persona: str | None = None) -> ScoreGate | None:
    """A gate over the configured judge when `min_score` is given, else None (keep every row, call no judge)."""
    return None if min_score is None else ScoreGate(judge_scorer(settings, persona), min_score)


def select(scores: list[float], *, keep_top: float | None = None, min_score: float | None = None) -> list[int]:
    """Indexes (in file order) of the best `keep_top` share (ties: the earlier row) or of rows >= `min_score`."""
    if (keep_top is None) == (min_score is None):
        raise UsageError("Give exactly one of --keep-top SHARE (e.g. 0.25) or --min-score N (1-5).")
    if min_score is not None:
        return [i for i, s in enumerate(scores) if s >= min_score]
    assert keep_top is not None
    if not 0 < keep_top <= 1:
        raise UsageError(f"--keep-top is a share of the rows between 0 and 1 (e.g. 0.25), not {keep_top:g}.")
    count = max(1, round(len(scores) * keep_top)) if scores else 0
    return sorted(sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:count])


def scores_path(settings: Settings, path: Path) -> Path:
    """The sidecar holding a dataset's scores: beside it in selftune's datasets folder, else in that folder's
    scores/ (a file read from elsewhere, e.g. datasets.allowed_dirs, never gets a file written beside it)."""
    from skills.dataset.paths import datasets_dir

    home = datasets_dir(settings).resolve()
    resolved = path.resolve()
    if resolved.is_relative_to(home):
        return resolved.with_name(resolved.name + SCORES_SUFFIX)
    return home / "scores" / f"{resolved.stem}-{file_sha256(resolved)[:12]}{SCORES_SUFFIX}"


def score_file(settings: Settings, path: Path, *, persona: str | None = None,
               progress: Progress | None = None) -> dict[str, Any]:
    """Rate every row of a dataset and write `<path>.scores.json`; returns a summary."""
    from skills.dataset.io import iter_canonical

    rows = list(iter_canonical(path))
    if not rows:
        raise UsageError(f"{path} has no rows to score.")
    scorer = judge_scorer(settings, persona)
    scored = ScoreFile(dataset=str(path), dataset_sha256=file_sha256(path), judge=scorer.name, persona=persona,
                       rows=scorer.rate_all(rows, progress))
    sidecar = scores_path(settings, path)
    sidecar.parent.mkdir(parents=True, exist_ok=True)
    sidecar.write_text(scored.model_dump_json(indent=1), encoding="utf-8")
    return _summary(scored, path, sidecar)


def _summary(scored: ScoreFile, path: Path, sidecar: Path) -> dict[str, Any]:
    values = [r.score for r in scored.rows]
    histogram = {str(n): sum(round(v) == n for v in values) for n in range(1, 6)}
    return {"path": str(path), "scores_path": str(sidecar), "rows": len(values), "judge": scored.judge,
            "mean": round(statistics.fmean(values), 2), "histogram": histogram,
            "unjudged": sum(not r.judged for r in scored.rows), "scores": values}


def read_scores(settings: Settings, path: Path) -> ScoreFile | None:
    """The sidecar scores of this exact version of `path`, else None."""
    try:
        scored = ScoreFile.model_validate_json(scores_path(settings, path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return scored if scored.dataset_sha256 == file_sha256(path) else None


def filter_file(settings: Settings, path: Path, out: Path, *, keep_top: float | None = None,
                min_score: float | None = None, persona: str | None = None,
                progress: Progress | None = None) -> dict[str, Any]:
    """Keep the best rows of a scored dataset (scoring it first when its scores are missing or stale)."""
    from skills.dataset.provenance import rows_with_ids

    select([], keep_top=keep_top, min_score=min_score)  # refuse bad options before calling any judge
    scored = read_scores(settings, path)
    if scored is None:
        score_file(settings, path, persona=persona, progress=progress)
        scored = read_scores(settings, path)
        assert scored is not None
    pairs = list(rows_with_ids(path))
    values = [r.score for r in scored.rows]
    kept = select(values, keep_top=keep_top, min_score=min_score)
    how = f"keep-top {keep_top:g}" if keep_top is not None else f"min-score {min_score:g}"
    manifest = write_dataset(
        [pairs[i][0] for i in kept], out, fmt=format_of(pairs[0][0]) if pairs else "messages",
        sources=_kept_sources(path, kept), row_messages=[pairs[i][1] for i in kept],
        scores=[values[i] for i in kept], judge=scored.judge, score_filter=how)
    return {"path": manifest.path, "rows": manifest.rows, "of": len(values), "dropped": len(values) - manifest.rows,
            "filter": how, "judge": scored.judge, "scores": manifest.scores}


def _kept_sources(path: Path, kept: list[int]) -> list[Source]:
    """A harvest's per-row sources for the kept rows, else the filtered file as one source."""
    manifest = read_manifest(path)
    if manifest and len(manifest.sources) == manifest.rows and all(s.rows == 1 for s in manifest.sources):
        return [manifest.sources[i] for i in kept]
    return [Source(kind="dataset", path=str(path), sha256=file_sha256(path), rows=len(kept), note="score filter")]
