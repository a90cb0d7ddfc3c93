"""The evaluator's held-out data under settings.holdout_dir (outside the workspace, never shown to generators).

Layout: personas/<name>.jsonl ({"prompt": ...} per line), adapters/<persona>.jsonl (a persona's own chat
rows: they judge its served adapter and the recipe it trains with), recipes/<name>.jsonl (canonical
{"messages": [...]} rows for one recipe) and skills/*.jsonl (requests with the skill they must reach:
{"text": ..., "skill": "train.submit" or null for plain chat, "args": {...}}, or "actions": [{"skill", "args"}, ...]
for a request that should run several). Each persona is measured on its own files; only when it has none
is the neutral default.jsonl used, and every measurement says which data it used (`*_source`). Defaults
are written on first use so a fresh install can run the loop.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from config.errors import ConfigError

DEFAULT_PROMPTS = [
    "What is a learning rate?", "How do I make tea?", "Tell me about the sea.", "What time is it in Paris?",
    "Can you recommend a book?", "Why is the sky blue?", "How do I fix a flat tyre?", "What is LoRA?",
    "Say hello to my friend.", "What should I cook tonight?", "Explain what a dataset is.",
    "How far is the moon?", "Give me a tip for sleeping well.", "What is Python?", "Who are you?",
    "How do ships float?",
]


def _default_rows() -> list[dict]:
    """Small, learnable chat rows (arithmetic in a plain voice, no persona's) for the short recipe training run."""
    rows = []
    for a in range(1, 9):
        for b in range(1, 7):
            rows.append({"messages": [
                {"role": "user", "content": f"What is {a} plus {b}?"},
                {"role": "assistant", "content": f"{a} plus {b} is {a + b}."},
            ]})
    return rows


def seed_defaults(holdout_dir: Path) -> None:
    """Write default held-out sets if missing (never overwrites)."""
    personas = holdout_dir / "personas" / "default.jsonl"
    recipes = holdout_dir / "recipes" / "default.jsonl"
    for path, rows in ((personas, [{"prompt": p} for p in DEFAULT_PROMPTS]), (recipes, _default_rows())):
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _read_jsonl(path: Path) -> list[dict]:
    try:
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"Held-out file {path} is unreadable ({exc}); fix or delete it.") from None


def _pick(holdout_dir: Path, sub: str, name: str) -> Path:
    seed_defaults(holdout_dir)
    own = holdout_dir / sub / f"{name}.jsonl"
    return own if own.is_file() else holdout_dir / sub / "default.jsonl"


def _label(holdout_dir: Path, path: Path) -> str:
    rel = path.relative_to(holdout_dir).as_posix()
    return f"the default held-out set {rel} (no own data)" if path.stem == "default" else f"held-out {rel}"


def persona_prompts(holdout_dir: Path, persona: str, limit: int | None = None) -> list[str]:
    """Held-out user prompts for a persona."""
    prompts = [str(r["prompt"]) for r in _read_jsonl(_pick(holdout_dir, "personas", persona))]
    return prompts[:limit] if limit else prompts


def persona_source(holdout_dir: Path, persona: str) -> str:
    """Which file persona_prompts read, for the verdict ('the default held-out set ...' when it has none)."""
    return _label(holdout_dir, _pick(holdout_dir, "personas", persona))


def _split(rows: list[dict]) -> tuple[list[dict], list[dict]]:
    return [r for i, r in enumerate(rows) if i % 4], [r for i, r in enumerate(rows) if not i % 4]


def recipe_rows(holdout_dir: Path, recipe: str) -> tuple[list[dict], list[dict]]:
    """(train, held-out) chat rows for a recipe's short training run: every 4th row is held out."""
    return _split(_read_jsonl(_pick(holdout_dir, "recipes", recipe)))


def recipe_rows_for(holdout_dir: Path, recipe: str, personas: list[str]) -> tuple[list[dict], list[dict], str]:
    """(train, held-out, source) for a recipe: recipes/<recipe>.jsonl, else the own rows of the personas that
    train with it (adapters/<persona>.jsonl), else the labelled default; never one persona's data for another."""
    seed_defaults(holdout_dir)
    own = holdout_dir / "recipes" / f"{recipe}.jsonl"
    if own.is_file():
        return (*_split(_read_jsonl(own)), _label(holdout_dir, own))
    files = [holdout_dir / "adapters" / f"{p}.jsonl" for p in sorted(personas)]
    files = [f for f in files if f.is_file()]
    if files:
        rows = [r for f in files for r in _read_jsonl(f)]
        return (*_split(rows), ", ".join(_label(holdout_dir, f) for f in files))
    default = holdout_dir / "recipes" / "default.jsonl"
    return (*_split(_read_jsonl(default)), _label(holdout_dir, default))


def adapter_rows(holdout_dir: Path, persona: str) -> list[dict]:
    """Held-out chat rows judging a persona's adapter: adapters/<persona>.jsonl, else the recipes' held-out rows."""
    own = holdout_dir / "adapters" / f"{persona}.jsonl"
    return _read_jsonl(own) if own.is_file() else recipe_rows(holdout_dir, "default")[1]


def fingerprint(holdout_dir: Path) -> str:
    """sha256 over every held-out file (names and bytes): detects tampering during an evaluation."""
    digest = hashlib.sha256()
    for path in sorted(p for p in holdout_dir.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(holdout_dir)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def skill_requests(holdout_dir: Path) -> list[dict]:
    """The evaluator-only requests of skills/*.jsonl, each as {"text", "actions": [{"skill", "args"}, ...]}."""
    rows = [r for path in sorted((holdout_dir / "skills").glob("*.jsonl")) for r in _read_jsonl(path)]
    return [{"text": str(r["text"]), "actions": r.get("actions") if "actions" in r else
             ([{"skill": r["skill"], "args": r.get("args") or {}}] if r.get("skill") else [])} for r in rows]
