"""Evaluation report: JSON (machine), Markdown (people, Discord) and a PNG (loss curves + metric bars)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ITEM_KEYS = ("candidate_items", "against_items", "scores", "verdicts", "correct")


def _compact(doc: Any) -> Any:
    """Drop per-item lists from the summary printed to users (the JSON file keeps them)."""
    if isinstance(doc, dict):
        return {k: _compact(v) for k, v in doc.items() if k not in ITEM_KEYS}
    if isinstance(doc, list):
        return [_compact(v) for v in doc]
    return doc


def loss_curves(events: list[dict[str, Any]]) -> dict[str, list[tuple[float, float]]]:
    """(step, loss) series from training job events: train loss from 'progress', eval loss from 'eval'."""
    train = [(e["step"], e["loss"]) for e in events if e.get("event") == "progress" and e.get("loss") is not None]
    evals = [(e["step"], e["eval_loss"]) for e in events if e.get("event") == "eval" and e.get("eval_loss") is not None]
    return {"train": train, "eval": evals}


def write_png(report: dict[str, Any], events: list[dict[str, Any]] | None, path: Path) -> Path:
    """Loss curves (when job events are given) beside bars of the main metrics, base vs adapter."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    curves = loss_curves(events or [])
    has_curves = bool(curves["train"] or curves["eval"])
    fig, axes = plt.subplots(1, 2 if has_curves else 1, figsize=(10 if has_curves else 5.5, 4))
    axes = list(axes) if has_curves else [axes]
    if has_curves:
        for label, series in curves.items():
            if series:
                axes[0].plot(*zip(*series, strict=True), label=f"{label} loss", marker="." if label == "eval" else None)
        axes[0].set(xlabel="step", ylabel="loss", title="Training")
        axes[0].legend()
    _metric_bars(axes[-1], report)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _metric_bars(ax: Any, report: dict[str, Any]) -> None:
    names, against, candidate = [], [], []
    held = report["heldout"]
    names.append("held-out loss"), against.append(held["against"]["loss"]), candidate.append(held["candidate"]["loss"])
    if report.get("adherence"):
        names.append("adherence /100")
        against.append(report["adherence"]["against"]["percent"] / 100)
        candidate.append(report["adherence"]["candidate"]["percent"] / 100)
    if report.get("forgetting"):
        names.append("general loss")
        against.append(report["forgetting"]["base_loss"]), candidate.append(report["forgetting"]["adapter_loss"])
    xs = range(len(names))
    ax.bar([x - 0.2 for x in xs], against, width=0.4, label=report["against"])
    ax.bar([x + 0.2 for x in xs], candidate, width=0.4, label="candidate")
    ax.set_xticks(list(xs), names)
    ax.set_title("Metrics")
    ax.legend(fontsize=8)


def markdown(report: dict[str, Any]) -> str:
    """A short human summary: verdict, metrics table and side-by-side samples."""
    held, lines = report["heldout"], [f"# Evaluation of {report['adapter']} vs {report['against']}", ""]
    lines += [f"**Verdict:** {'promote' if report['gate']['promote'] else 'keep current'} — {report['gate']['reason']}", ""]
    lines += ["| metric | " + report["against"] + " | candidate |", "|---|---|---|"]
    lines.append(f"| held-out loss | {held['against']['loss']:.4f} | {held['candidate']['loss']:.4f} |")
    lines.append(f"| perplexity | {held['against']['perplexity']:.2f} | {held['candidate']['perplexity']:.2f} |")
    if report.get("adherence"):
        adh = report["adherence"]
        lines.append(f"| format adherence | {adh['against']['percent']:.1f}% | {adh['candidate']['percent']:.1f}% |")
    if report.get("forgetting"):
        fg = report["forgetting"]
        lines.append(f"| general accuracy | {fg['base_accuracy']:.0%} | {fg['adapter_accuracy']:.0%} |")
        lines.append(f"| general answer loss | {fg['base_loss']:.3f} | {fg['adapter_loss']:.3f} |")
    if report.get("judge"):
        j = report["judge"]
        lines += ["", f"Judge win rate: {j['win_rate']:.0%} (95% CI {j['ci95'][0]:.0%}–{j['ci95'][1]:.0%}, n={j['n']})"]
    lines += ["", "## Samples", ""]
    for s in report.get("samples", [])[:5]:
        lines += [f"**Prompt:** {s['prompt']}", f"- {report['against']}: {s['against']}", f"- candidate: {s['candidate']}", ""]
    return "\n".join(lines)


def write_report(report: dict[str, Any], out_dir: Path, events: list[dict[str, Any]] | None = None) -> dict[str, str]:
    """Write report.json, report.md and report.png into out_dir; return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "report.json", "markdown": out_dir / "report.md", "png": out_dir / "report.png"}
    paths["json"].write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    paths["markdown"].write_text(markdown(report), encoding="utf-8")
    write_png(report, events, paths["png"])
    return {k: str(v) for k, v in paths.items()}


def summary(report: dict[str, Any]) -> dict[str, Any]:
    """The report without per-item lists (what the CLI prints and the skill returns)."""
    return _compact(report)
