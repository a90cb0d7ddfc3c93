"""The simulation's report: what became of the poisoned night, a table, one PNG curve per metric, one JSON file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.table import Table

METRICS = {"judge_win_rate": "judge win rate vs night 0", "adherence": "style adherence",
           "thumbs_up_rate": "thumbs-up rate (fresh prompts)", "forgetting_accuracy": "general-ability accuracy",
           "forgetting_instruction_following": "instruction following (general set)"}


def poison_outcome(doc: dict[str, Any]) -> dict[str, Any] | None:
    """Which defence held on the poisoned night: the gate, the regression check the next night, or neither."""
    night = doc.get("poison_night")
    entries = {e["night"]: e for e in doc["entries"]}
    if not night or night not in entries:
        return None
    entry, after = entries[night], entries.get(night + 1)
    retrain = entry.get("retrain") or {}
    recipe = [i for i in entry["improver"] if i["target"].startswith("recipe:")]
    result = {"night": night, "candidate": retrain.get("candidate"), "retrain_status": retrain.get("status"),
              "gate": entry.get("gate"), "recipe_proposal": recipe[0] if recipe else None}
    candidate = retrain.get("candidate")
    if retrain.get("status") != "promoted":
        result["outcome"] = ("refused by the gate" if retrain.get("status") == "rejected"
                             else f"no candidate was promoted ({retrain.get('status')}: {retrain.get('reason')})")
    elif after is None:
        result["outcome"] = "promoted; no next night was simulated to check it"
    elif after["served"] == candidate:
        result["outcome"] = f"still served after night {night + 1}: neither defence held"
    elif after["rollbacks"]:
        result["outcome"] = f"rolled back by the regression check on night {night + 1}: {after['rollbacks'][0]['reason']}"
    else:
        result["outcome"] = f"replaced on night {night + 1} by {after['served'] or 'the base model'}"
    result["served_next_night"] = after["served"] if after else None
    return result


def table(doc: dict[str, Any]) -> Table:
    """One row per night: served adapter, retrain and gate, improver, hidden-holdout metrics."""
    t = Table("night", "served", "retrain", "gate", "improver", "win vs n0", "adherence", "👍 rate", "forgetting",
              title=f"simulated nights of {doc['persona']} ({doc['base_model']}; judge: {doc['judge']})")
    for e in doc["entries"]:
        h = e["holdout"]
        retrain = e.get("retrain") or {}
        gate = e.get("gate") or {}
        improver = ", ".join(f"{i['target']} {i['verdict']}" for i in e.get("improver", []))
        t.add_row(f"{e['night']}{' (poisoned)' if e.get('poisoned') else ''}", e["served"] or "base",
                  retrain.get("status", "") if e["night"] else "", ("promote" if gate.get("promote") else "keep") if gate else "",
                  improver, _win(h), f"{h['adherence']:.2f}", f"{h['thumbs_up_rate']:.2f}",
                  "flagged" if h["forgetting_flagged"] else "ok")
    return t


def _win(holdout: dict[str, Any]) -> str:
    """The judge's win rate, marked when the judge was unreliable on those pairs (its position habit, or orders
    that disagree): then the figure says nothing about the answers."""
    mark = " (judge unreliable)" if holdout.get("judge_reliable") is False else ""
    return f"{holdout['judge_win_rate']:.2f}{mark}"


def _plot(doc: dict[str, Any], metric: str, label: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    nights = [e["night"] for e in doc["entries"]]
    values = [e["holdout"][metric] for e in doc["entries"]]
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot(nights, values, marker="o")
    if doc.get("poison_night"):
        ax.axvline(doc["poison_night"], color="red", linestyle=":", label="poisoned night")
        ax.legend(loc="best")
    ax.set(xlabel="night", ylabel=label, title=f"{doc['persona']}: {label}", ylim=(-0.05, 1.05))
    ax.set_xticks(nights)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def write_report(doc: dict[str, Any], out: Path) -> dict[str, str]:
    """Write simulate.json, table.txt and one PNG per metric into `out`; returns their paths."""
    from rich.console import Console

    out.mkdir(parents=True, exist_ok=True)
    files = {}
    for metric, label in METRICS.items():
        path = out / f"{metric}.png"
        _plot(doc, metric, label, path)
        files[metric] = str(path)
    with open(out / "table.txt", "w", encoding="utf-8") as fh:
        Console(file=fh, width=160).print(table(doc))
    files["table"] = str(out / "table.txt")
    files["json"] = str(out / "simulate.json")
    if (out / "nights.jsonl").is_file():  # written night by night during the run
        files["nights"] = str(out / "nights.jsonl")
    (out / "simulate.json").write_text(json.dumps({**doc, "files": files}, indent=2, default=str), encoding="utf-8")
    return files
