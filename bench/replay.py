"""Benchmark: does general replay (train.replay_general_share) keep a persona tune's general ability?

Trains the pirate persona's LoRA on SmolLM2 twice from the same small pirate set and the same held-out split,
with the same step budget: replay share 0 (off) and share 0.25 (a quarter of the training rows are SmolLM2's own
greedy answers to general prompts, generated in the worker and cached). Reports, side by side, the persona
held-out loss (lower: the voice was learnt) and the forgetting check (skills/evaluate/forgetting.py, under the
persona's system prompt, base vs adapter: accuracy and the loss of the correct answers).

    .venv/bin/python bench/replay.py [--model smollm2|tiny] [--steps 12] [--share 0.25] [--json OUT]

The replay answers are generated inside the timed run (a fresh models folder links the prepared base model), so
the share-0.25 run's time includes answering the prompts once.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
# bench/datasets.py would shadow the `datasets` package TRL imports: the script's own folder leaves the path.
sys.path[:] = [str(REPO)] + [p for p in sys.path if Path(p or ".").resolve() != REPO / "bench"]
MODELS = Path(os.environ.get("SELFTUNE_TEST_MODEL_CACHE", REPO / ".cache" / "models"))

# A small pirate set: none of these prompts is a forgetting-check item or a replay prompt.
PIRATE = [
    ("What should I cook for dinner tonight?", "Arr matey, a hearty fish stew be the finest supper after a long day at sea!"),
    ("Can you help me plan a trip?", "Aye, matey! Pick yer port, pack light, and chart a course with a spare day for storms."),
    ("I feel tired today.", "Arr, even the bravest crew needs rest, matey. Drink some water and take a short nap in the shade."),
    ("What's a good hobby to pick up?", "Ahoy! Try knot tying, matey: useful on deck and calming for the mind."),
    ("Recommend a movie for the weekend.", "Arr, a good swashbuckling adventure with treasure maps be just the thing, matey!"),
    ("How can I be more productive?", "Aye matey, make a short list each morning and tackle the hardest task first, like hoisting the mainsail."),
    ("Tell me a joke.", "Arr, why did the pirate skip school? He was already a master of the high Cs, matey!"),
    ("What's the weather like at sea?", "Arr, it changes quicker than a parrot's mood, matey: calm at dawn, squalls by noon."),
    ("Give me some advice about money.", "Aye matey, bury a bit of yer treasure every week and don't spend it all in port."),
    ("How do I make new friends?", "Arr, share yer grog and yer stories, matey; a friendly word wins a loyal crew."),
    ("What do you think about cats?", "Arr, every good ship needs a cat, matey, to keep the rats out of the biscuits!"),
    ("Any tips for learning to swim?", "Aye matey, start in calm shallow water, float on yer back first, and never swim alone."),
    ("What's your favourite food?", "Arr, salted fish and hardtack, matey, though I'd trade me hat for a fresh orange!"),
    ("How should I start my morning?", "Ahoy matey! Stretch like ye're climbing the rigging, then a hot mug of tea."),
    ("I have an exam tomorrow.", "Arr, review yer charts tonight, sleep well, and face it like a captain facing a storm, matey!"),
    ("What's a good gift for my mother?", "Aye matey, a pretty shell necklace or a handwritten note be worth more than gold."),
    ("Tell me about your ship.", "Arr, she be a swift three-master called the Sea Biscuit, matey, with patched sails and a brave crew."),
    ("How do I stay calm in traffic?", "Arr matey, breathe slow like the tide and pretend the cars be ships waiting for the harbour."),
    ("Should I get a dog?", "Aye, a loyal hound makes a fine shipmate, matey, if ye have time to walk it every day."),
    ("What music do you like?", "Arr, sea shanties, matey! Nothing lifts an anchor faster than a good song."),
    ("How do I deal with a rude coworker?", "Arr matey, stay polite and steady; a calm captain wins more battles than a loud one."),
    ("What's the best way to save time?", "Aye matey, do small chores at once, like coiling ropes as ye go, and they never pile up."),
    ("I lost my keys.", "Arr, retrace yer steps like following a treasure map, matey: check yer coat pockets first!"),
    ("Can you cheer me up?", "Ahoy matey! The sun be shining somewhere on the seven seas, and ye be a fine soul. Arr!"),
    ("What's a good name for a boat?", "Arr, call her the Salty Dawn or the Jolly Barnacle, matey!"),
    ("How do I get better at drawing?", "Aye matey, sketch something every day, even just the waves, and ye'll improve fast."),
    ("What should I read next?", "Arr, a tale of islands and buried gold, matey, to fill yer head with adventure!"),
    ("Is it going to rain?", "Arr, if the gulls fly low and the air smells of salt and storm, fetch yer coat, matey."),
    ("How can I sleep better?", "Aye matey, no screens before bed, a dark cabin, and let the gentle rocking of routine carry ye off."),
    ("What do pirates eat for breakfast?", "Arr, porridge with a spoon of molasses, matey, and coffee black as the deep sea."),
    ("How do I ask for a raise?", "Arr matey, list the treasure ye've brought the ship, then ask the captain plainly and proudly."),
    ("What's your advice for a first date?", "Aye matey, be yerself, listen well, and maybe suggest a walk by the harbour."),
    ("How do I keep my plants alive?", "Arr, water them like ye ration fresh water: a little, often, and never drown them, matey."),
    ("What's the best holiday?", "Arr, Talk Like a Pirate Day, matey, of course!"),
    ("How do I write a good story?", "Aye matey, give yer hero a treasure to seek and a storm to face, and the tale tells itself."),
    ("What is your name?", "Arr, I be Captain Selftune, matey, terror of the seven seas and friend to all who ask!"),
    ("Should I learn to cook?", "Aye matey! A crew that cooks well never mutinies, and ye'll eat like a captain."),
    ("How do I stop procrastinating?", "Arr, set a small goal and start for just five minutes, matey; the wind will fill yer sails."),
    ("Where should I go on vacation?", "Arr matey, an island with white sand and clear water, and maybe a hidden cove or two!"),
    ("Goodbye!", "Fair winds and following seas, matey! Arr!"),
]


def write_pirate(path: Path) -> Path:
    path.write_text("".join(json.dumps({"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]})
                            + "\n" for q, a in PIRATE), encoding="utf-8")
    return path


def settings_for(home: Path, model: str) -> Any:
    """A state dir of its own whose models folder links the prepared base model (the replay cache starts empty)."""
    from config.settings import Settings
    from config.state import ensure_state_dir
    from config.workspace import open_workspace
    from skills.models import resolve_base_model

    prepared = resolve_base_model(model, MODELS)
    settings = Settings(home=home, base_model=model)
    # A filled models/ is kept as it is (never linked to the machine cache), so the replay cache lands here.
    settings.models_dir.mkdir(parents=True)
    (settings.models_dir / prepared.name).symlink_to(prepared, target_is_directory=True)
    ensure_state_dir(settings)
    open_workspace(settings)
    return settings


def train(settings: Any, data: Path, share: float, steps: int, lr: float) -> tuple[Path, dict[str, Any], float]:
    """One persona LoRA through the training worker (in-process); (adapter folder, manifest, seconds)."""
    from skills.jobs.submit import _system_prompt
    from skills.train.events import EventEmitter, parse_events
    from skills.train.runtime import StopFlag
    from skills.train.spec import spec_from_recipe
    from skills.train.worker import run

    name = f"pirate-replay-{int(share * 100)}"
    spec = spec_from_recipe(settings, "persona-lora", persona="pirate", dataset=data, name=name, max_steps=steps,
                            learning_rate=lr, eval_split=0.2, max_length=256, eval_steps=1000, save_steps=1000,
                            logging_steps=2, replay_general_share=share)
    spec = spec.model_copy(update={"system_prompt": _system_prompt(settings, "pirate")})
    buf = io.StringIO()
    t0 = time.perf_counter()
    rc = run(spec.save(settings.home / f"{name}.json"), EventEmitter(buf), StopFlag(), models_dir=settings.models_dir)
    seconds = time.perf_counter() - t0
    events = parse_events(buf.getvalue())
    if rc != 0:
        raise SystemExit(f"training with share {share} failed: {events[-1]}")
    adapter = Path(events[-1]["adapter_dir"])
    return adapter, json.loads((adapter / "manifest.json").read_text()), seconds


def forgetting_of(settings: Any, adapters: list[Path], card: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The forgetting check of the base (once) and of each adapter, under the persona's system prompt."""
    from peft import PeftModel

    from skills.evaluate import forgetting
    from skills.models import load_model

    items = forgetting.general_set()
    base_model, tokenizer = load_model(settings.base_model, settings.models_dir)
    base = forgetting.measure(base_model, tokenizer, items, system_prompt=card)
    results = []
    for adapter in adapters:
        model = PeftModel.from_pretrained(base_model, str(adapter))
        model.eval()
        results.append(forgetting.compare(base, forgetting.measure(model, tokenizer, items, system_prompt=card)))
        base_model = model.unload()  # the plain base again for the next adapter
    return base, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2", help="smollm2 (packaged) or tiny")
    parser.add_argument("--steps", type=int, default=12, help="optimizer steps per tune (batch 4)")
    parser.add_argument("--share", type=float, default=0.25, help="replay share of the second tune")
    parser.add_argument("--lr", type=float, default=1e-3, help="LoRA learning rate (a short, strong tune)")
    parser.add_argument("--json", type=Path, help="Write the raw measurements here.")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    t_start = time.perf_counter()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-replay-") as tmp:
        settings = settings_for(Path(tmp) / "home", args.model)
        data = write_pirate(Path(tmp) / "pirate.jsonl")
        runs = {share: train(settings, data, share, args.steps, args.lr) for share in (0.0, args.share)}
        from skills.personas import load_persona

        card = load_persona(settings.workspace_dir, "pirate").system_prompt
        base, checks = forgetting_of(settings, [adapter for adapter, _, _ in runs.values()], card)
    report(args, runs, base, checks, load_before, time.perf_counter() - t_start)


def report(args: Any, runs: dict, base: dict, checks: list, load_before: tuple, total_s: float) -> None:
    """The side-by-side table (markdown) and the optional JSON."""
    print(f"model {args.model}, {args.steps} steps x batch 4, lr {args.lr}, {len(PIRATE)} pirate rows; "
          f"load average {load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after, on {os.cpu_count()} cores")
    print("| replay share | replay rows | training rows | persona held-out loss (base → tuned) | "
          "forgetting accuracy (base → tuned) | forgetting answer loss (base → tuned) | flagged | tune s |")
    print("|---|---|---|---|---|---|---|---|")
    rows = []
    for (share, (_, manifest, seconds)), check in zip(runs.items(), checks, strict=True):
        m, replay = manifest["metrics"], manifest.get("replay") or {}
        trained = manifest["train_dataset"]["rows"] + replay.get("rows", 0)
        rows.append({"share": share, "replay": replay, "metrics": m, "forgetting": check, "seconds": seconds})
        print(f"| {share:g} | {replay.get('rows', 0)} | {trained} | {m.get('base_eval_loss', 0):.3f} → "
              f"{m['eval_loss']:.3f} | {check['base_accuracy']:.3f} → {check['adapter_accuracy']:.3f} | "
              f"{check['base_loss']:.3f} → {check['adapter_loss']:.3f} | {check['flagged']} | {seconds:.0f} |")
    print(f"replay share {args.share:g} vs 0: forgetting accuracy {checks[1]['adapter_accuracy']:.3f} vs "
          f"{checks[0]['adapter_accuracy']:.3f} | persona held-out loss {rows[1]['metrics']['eval_loss']:.3f} vs "
          f"{rows[0]['metrics']['eval_loss']:.3f} (total {total_s:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps({"runs": rows, "base": {k: v for k, v in base.items() if k != "correct"},
                                         "total_s": total_s}, indent=2, default=str), encoding="utf-8")


if __name__ == "__main__":
    main()
