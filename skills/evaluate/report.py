"""Evaluation report: JSON (machine), Markdown (people, Discord), a PNG (loss curves + metric bars) and one
self-contained HTML page (verdict, chart, samples side by side) to open in a browser."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

HTML_NAME = "report.html"
ITEM_KEYS = ("candidate_items", "against_items", "scores", "verdicts", "correct", "first_probabilities")


def _compact(doc: Any) -> Any:
    """Drop per-item lists from the summary printed to users (the JSON file keeps them)."""
    if isinstance(doc, dict):
        return {k: _compact(v) for k, v in doc.items() if k not in ITEM_KEYS}
    if isinstance(doc, list):
        return [_compact(v) for v in doc]
    return doc


def _flat(event: dict[str, Any]) -> dict[str, Any]:
    """A job-store event ({event, data: {...}}) or a worker line ({event, step, loss}) as one flat dict."""
    data = event.get("data")
    return {**data, **{k: v for k, v in event.items() if k != "data"}} if isinstance(data, dict) else event


def loss_curves(events: list[dict[str, Any]]) -> dict[str, list[tuple[float, float]]]:
    """(step, loss) series from training job events: train loss from 'progress', eval loss from 'eval'."""
    flat = [_flat(e) for e in events]
    train = [(e["step"], e["loss"]) for e in flat if e.get("event") == "progress" and e.get("loss") is not None]
    evals = [(e["step"], e["eval_loss"]) for e in flat if e.get("event") == "eval" and e.get("eval_loss") is not None]
    return {"train": train, "eval": evals}


def title(report: dict[str, Any]) -> str:
    """What the report is about: the adapter, its persona and what it is measured against."""
    persona = f" · persona {report['persona']}" if report.get("persona") else ""
    return f"{report['adapter']}{persona} vs {report['against']}"


def figure(report: dict[str, Any], events: list[dict[str, Any]] | None) -> Figure:
    """Loss curves from the job's events beside bars of the main metrics, on separate axes, titled by adapter."""
    from matplotlib.figure import Figure  # the object API: no pyplot state, safe in worker threads

    fig = Figure(figsize=(11, 4.2), layout="constrained")
    curves_ax, bars_ax = fig.subplots(1, 2)
    _loss_axes(curves_ax, loss_curves(events or []))
    _metric_bars(bars_ax, report)
    fig.suptitle(title(report))
    return fig


def write_png(report: dict[str, Any], events: list[dict[str, Any]] | None, path: Path) -> Path:
    """Save the report's figure (loss curves + metric bars) as a PNG."""
    figure(report, events).savefig(path, dpi=110)
    return path


def _loss_axes(ax: Any, curves: dict[str, list[tuple[float, float]]]) -> None:
    """Train/eval loss against step; says so on the axes when the job left no events to draw."""
    ax.set(xlabel="step", ylabel="loss", title="Training loss")
    drawn = False
    for label, series in curves.items():
        if series:
            ax.plot(*zip(*series, strict=True), label=f"{label} loss", marker="." if label == "eval" else None)
            drawn = True
    if drawn:
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no training events recorded\nfor this adapter", ha="center", va="center",
                transform=ax.transAxes, color="gray")


def _metric_bars(ax: Any, report: dict[str, Any]) -> None:
    names, against, candidate = [], [], []
    held = report["heldout"]
    names.append("held-out loss"), against.append(held["against"]["loss"]), candidate.append(held["candidate"]["loss"])
    if report.get("adherence"):
        names.append("adherence (share)")  # a share of answers, 0 to 1, beside losses
        against.append(report["adherence"]["against"]["percent"] / 100)
        candidate.append(report["adherence"]["candidate"]["percent"] / 100)
    if report.get("forgetting") and report["forgetting"].get("base_loss") is not None:
        names.append("general loss")
        against.append(report["forgetting"]["base_loss"]), candidate.append(report["forgetting"]["adapter_loss"])
    xs = range(len(names))
    for offset, values, label in ((-0.2, against, report["against"]), (0.2, candidate, "candidate")):
        ax.bar_label(ax.bar([x + offset for x in xs], values, width=0.4, label=label), fmt="%.3g", fontsize=7)
    ax.set_xticks(list(xs), names)
    ax.set_title("Metrics")
    ax.legend(fontsize=8)


def verdict(report: dict[str, Any]) -> str:
    """The gate's decision in words: 'promote', 'keep current', or 'no verdict' when too few rows were measured."""
    if report["gate"]["promote"]:
        return "promote"
    return "no verdict (too few rows)" if report["gate"].get("metric") == "evidence" else "keep current"


def metric_rows(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(metric, against, candidate) as formatted text, for the Markdown and HTML tables."""
    held = report["heldout"]
    rows = [("held-out loss", f"{held['against']['loss']:.4f}", f"{held['candidate']['loss']:.4f}"),
            ("perplexity", f"{held['against']['perplexity']:.2f}", f"{held['candidate']['perplexity']:.2f}")]
    if report.get("adherence"):
        adh = report["adherence"]
        rows.append(("format adherence", f"{adh['against']['percent']:.1f}%", f"{adh['candidate']['percent']:.1f}%"))
    if report.get("forgetting"):
        fg = report["forgetting"]
        rows.append(("general accuracy", _pct(fg["base_accuracy"]), _pct(fg["adapter_accuracy"], fg.get("accuracy_noise"))))
        if fg.get("base_instruction_following") is not None:
            rows.append(("instruction following", _pct(fg["base_instruction_following"]),
                         _pct(fg["adapter_instruction_following"], fg.get("instruction_noise"))))
        if fg.get("base_loss") is not None:
            rows.append(("general answer loss", f"{fg['base_loss']:.3f}", f"{fg['adapter_loss']:.3f}"))
    return rows


def _pct(share: float | None, noise: float | None = None) -> str:
    """A share as a percentage, with the noise of its difference from the other side when measured."""
    if share is None:
        return "n/a"
    return f"{share:.0%}" + (f" (±{noise:.0%})" if noise else "")


def judge_line(report: dict[str, Any]) -> str | None:
    """The judge's win rate with its interval and its own calibration (first-position rate, agreement between
    the two orders), and whether the gate could trust it, when a judge ran."""
    j = report.get("judge")
    if not j:
        return None
    line = f"Judge win rate: {j['win_rate']:.0%} (95% CI {j['ci95'][0]:.0%}–{j['ci95'][1]:.0%}, n={j['n']})"
    if j.get("judge"):
        line = f"{line}, judge {j['judge']}"
    first = j.get("first_position_rate")
    if "order_agreement" in j:
        shown = "no decided verdict" if first is None else f"{first:.0%}"
        line += f"; first-position rate {shown}, the two orders agree on {j['order_agreement']:.0%} of pairs"
        if j.get("position_lean") is not None:
            line += (f" (log-probability judge: mean P(first) {j['position_lean']:.2f}, which averaging both orders "
                     "cancels; rates read against it)")
    if j.get("reliable") is False:
        line += f". UNRELIABLE, left out of the gate: {j.get('unreliable_reason')}"
    return line + "."


def eval_data_line(report: dict[str, Any]) -> str | None:
    """One sentence: which file the adapter was measured on, against which training file, and their overlap."""
    data = report.get("eval_data")
    if not data:
        return None
    held, train, found = data["eval"], data.get("train"), data.get("overlap") or {}
    text = f"Eval data ({data['source']}): {held['path']} ({held['rows']} rows, sha256 {held['sha256'][:12]})"
    if train:
        text += f"; training data: {train['path']} ({train['rows']} rows, sha256 {train['sha256'][:12]})"
        text += f"; {found.get('rows', 0)} eval rows overlap the training data (exact or near duplicate prompts)."
    else:
        text += "; no training file is recorded, so overlap was not checked."
    theirs = data.get("against_overlap") or {}
    if theirs.get("rows"):
        text += (f" {theirs['rows']} of {theirs['of']} eval rows were in the compared adapter's training data and "
                 "were left out of the comparison.")
    if data.get("holdout"):
        text += f" Evaluator-only set: {data['holdout']['path']} ({data['holdout']['rows']} rows)."
    return text


def markdown(report: dict[str, Any]) -> str:
    """A short human summary: verdict, metrics table and side-by-side samples."""
    lines = [f"# Evaluation of {report['adapter']} vs {report['against']}", ""]
    lines += [f"**Verdict:** {verdict(report)} — {report['gate']['reason']}", ""]
    if eval_data_line(report):
        lines += [str(eval_data_line(report)), ""]
    lines += ["| metric | " + report["against"] + " | candidate |", "|---|---|---|"]
    lines += [f"| {name} | {against} | {candidate} |" for name, against, candidate in metric_rows(report)]
    if judge_line(report):
        lines += ["", str(judge_line(report))]
    lines += ["", "## Samples", ""]
    if report.get("decoding"):
        lines += [f"Answers decoded {report['decoding']}.", ""]
    for s in report.get("samples", [])[:5]:
        lines += [f"**Prompt:** {s['prompt']}", f"- {report['against']}: {s['against']}", f"- candidate: {s['candidate']}", ""]
    return "\n".join(lines)


def write_report(report: dict[str, Any], out_dir: Path, events: list[dict[str, Any]] | None = None) -> dict[str, str]:
    """Write report.json, report.md, report.png and report.html into out_dir; return the first three's paths.

    report.html (one self-contained page) sits beside them under a fixed name: the returned keys are a
    contract scripts rely on.
    """
    from skills.evaluate.report_html import write_html

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "report.json", "markdown": out_dir / "report.md", "png": out_dir / "report.png"}
    paths["json"].write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    paths["markdown"].write_text(markdown(report), encoding="utf-8")
    write_png(report, events, paths["png"])
    write_html(report, paths["png"], out_dir / HTML_NAME)
    return {k: str(v) for k, v in paths.items()}


def summary(report: dict[str, Any]) -> dict[str, Any]:
    """The report without per-item lists (what the CLI prints and the skill returns)."""
    return _compact(report)
