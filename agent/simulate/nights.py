"""`selftune simulate`: a community chats with a persona by day; each simulated night the persisted schedules
fire on a fake clock (the real nightly retrain with its gate and regression check, then one bounded improver
round); after every night the hidden holdout measures the served model.

It runs in a fresh state dir of its own (`<home>/simulate/<stamp>/`, models shared with the real one), so the
owner's conversations, workspace and adapters are never touched; the report lands in the owner's
`artifacts/reports/simulate-<stamp>/`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import tomlkit
from pydantic import BaseModel, Field

from agent.simulate.clock import FakeClock
from agent.simulate.community import Chatroom, load_community
from agent.simulate.measure import Measurer
from config.errors import SelftuneError
from config.settings import Settings, load_settings
from config.state import ensure_state_dir
from config.workspace import open_workspace

Progress = Callable[[str], None]
WARM_UP_TIMEOUT_S = 3600
# Training sizes per night: the tiny random model only has to exercise the pipeline; SmolLM2 has to learn.
# A LoRA cannot teach the random 2-layer tiny model to speak, so --tiny starts from a "warm" tiny base: the
# tiny model fully fine-tuned on the starter set once (~30 s), cached in models/ like converted base models.
TINY = {"llm_tokens": 24, "per_user": 4, "min_new": 4, "min_pairs": 4, "min_rows": 4, "judge_prompts": 4,
        "forgetting_items": 24,  # the tiny model answers nothing right: the check's path, not its size
        "warm": {"max_steps": 120, "learning_rate": 3e-3, "max_length": 128, "batch_size": 4, "grad_accum": 1,
                 "warmup_ratio": 0.0, "eval_steps": 1000, "save_steps": 1000},
        "train": {"max_steps": 3, "learning_rate": 5e-3, "eval_steps": 1000, "save_steps": 1000, "batch_size": 2}}
# SmolLM2 trains by epochs over the whole (growing) dataset, as the recipe does: a fixed step count over a few
# dozen packed rows is dozens of epochs, and a LoRA that memorised its rows answers "matey, matey, matey...".
# The first nightly retrain trains a fresh adapter at the recipe's budget (3 epochs at 2e-4: nothing is served
# to continue); later nights take one epoch at 1e-4 from the served adapter (`from_served`). Its nightly
# retrain is the SFT stage on liked and unrated answers (a 👎 answer never becomes a row): a KTO stage over every
# rated answer costs ~3 s per answer on 2 cores, more than a one-hour week can spend.
FULL = {"llm_tokens": 64, "per_user": 10, "min_new": 8, "min_pairs": 1_000_000, "min_rows": 8, "judge_prompts": 6,
        "forgetting_items": 300,
        "train": {"max_length": 256, "batch_size": 2, "eval_steps": 1000, "save_steps": 1000,
                  "epochs": 1, "learning_rate": 1e-4, "from_served": True}}

class SimOptions(BaseModel):
    """What to simulate."""

    nights: int = Field(3, ge=1, description="Simulated nights.")
    persona: str = Field("pirate", description="The persona the community talks to.")
    users: int = Field(3, ge=1, description="Simulated users (plus the poisoner on the poisoned night).")
    tiny: bool = Field(False, description="The tiny random model and minimal training: checks the loop, not quality.")
    poison_night: int = Field(2, ge=0, description="The night a user floods the channel; 0 for none.")
    seed: int = Field(0, description="Seed of the users' choices.")


def stamp() -> str:
    """A sortable timestamp for folder names."""
    return time.strftime("%Y%m%d-%H%M%S")


def write_toml(path: Path, values: dict[str, Any]) -> Path:
    """Write a small TOML file: top-level keys first, then a table per nested dict."""
    path.write_text(tomlkit.dumps(values), encoding="utf-8")
    return path


def write_sim_config(owner: Settings, opts: SimOptions, home: Path) -> Path:
    """The simulation's selftune.toml and evaluator.toml in its own state dir (models shared with the owner's)."""
    size = TINY if opts.tiny else FULL
    base = "tiny" if opts.tiny else owner.base_model
    home.mkdir(parents=True)
    owner.models_dir.mkdir(parents=True, exist_ok=True)
    (home / "models").symlink_to(owner.models_dir.resolve(), target_is_directory=True)
    # The improver's evaluator measures on its own held-out set (holdout/), never the simulation's hidden one.
    write_toml(home / "evaluator.toml", {"repeats": 1, "max_prompts": size["judge_prompts"],
                                         "judge_provider": "none" if opts.tiny else "local", "bootstrap": 200,
                                         "max_new_tokens": 16 if opts.tiny else 48, "train_steps": 3})
    return write_toml(home / "selftune.toml", {
        "base_model": base,
        # Chat answers sample (temperature 0.8, Ollama's and llama.cpp's default), so a question asked twice can
        # get a better answer the second time and the users' 👍 pick it; every measurement generates greedily.
        "llm": {"provider": "local", "model": base, "max_new_tokens": size["llm_tokens"], "fallback": [],
                "temperature": 0.8},
        "judge": {"provider": "local", "model": base},
        "auth": {"rate_limit_per_minute": 100000},  # a simulated day is minutes long; a real one spreads out
        # Users drop in through the day, so each question starts a fresh conversation, as in a quiet channel (a
        # 135M model that sees a busy channel's dozen earlier answers copies the last one).
        "agent": {"session_ttl_s": 0.001},
        # Memory logs and harvests every exchange; recall stays off: top-k recall quotes the channel's earlier
        # answers however unrelated, and a 135M adapter copies a quoted answer instead of answering.
        "memory": {"recall_k": 0},
        "scheduler": {"min_new_conversations": size["min_new"], "min_preference_pairs": size["min_pairs"]},
        "train": {"min_rows": size["min_rows"]},
        # a simulated night's eval split is a few rows
        "eval": {"min_rows": size["min_rows"], "forgetting_items": size["forgetting_items"]},
        "improver": {"max_rounds": 1, "round_budget_s": 300.0 if opts.tiny else 600.0},
        **_owner_executor(owner, opts),
    })


def _owner_executor(owner: Settings, opts: SimOptions) -> dict[str, Any]:
    """The owner's executor, so that with `executor.kind = "ray"` the simulation's training, gates and hidden-
    holdout measurements run on the GPU box too. Not with --tiny: its warmed-up base is a folder on this host."""
    if opts.tiny or owner.executor.kind == "local":
        return {}
    return {"executor": owner.executor.model_dump(mode="json", exclude_none=True)}


@contextmanager
def sim_environment(home: Path, config: Path) -> Iterator[None]:
    """Point every settings load of this run (and of its job and evaluator processes) at the simulation's state
    dir: environment variables win over files, so the owner's SELFTUNE_* are set aside until the run ends."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("SELFTUNE_")}
    for key in saved:
        del os.environ[key]
    os.environ.update(SELFTUNE_HOME=str(home), SELFTUNE_CONFIG=str(config))
    try:
        yield
    finally:
        for key in [k for k in os.environ if k.startswith("SELFTUNE_")]:
            del os.environ[key]
        os.environ.update(saved)


def prepare_home(opts: SimOptions, config: Path) -> Settings:
    """The simulation's state: the persona bound to a consented channel, tuned once and served, schedules."""
    from improver.scheduled import add_round_schedule, install
    from memory.store import Memory
    from skills.scheduler import add_retrain

    size = TINY if opts.tiny else FULL
    sim = load_settings(config)
    ensure_state_dir(sim)
    channel = f"discord:sim-{opts.persona}"
    ws = open_workspace(sim)
    card = f"personas/{opts.persona}.toml"
    ws.write(card, re.sub(r"(?m)^channels = .*$", f'channels = ["{channel}"]', ws.read(card)))
    ws.commit(f"simulation: {opts.persona} answers in {channel}")
    memory = Memory(sim)
    try:
        memory.set_consent(channel, True, changed_by="discord:sim-owner")
    finally:
        memory.close()
    owner_holdout(sim, opts.persona)
    # Night 0 is the persona as configured: its card on the base model, no adapter yet. The owner's starter rows
    # are the persona's dataset, so the first nightly retrain learns from them and from the first day's likes.
    if opts.tiny:  # the base is the warm tiny model (a random one cannot speak); adapters train on top of it
        sim = warm_tiny_base(sim, opts.persona, config, size["warm"])
    else:
        _starter_dataset(sim, opts.persona)
    add_retrain(sim, opts.persona, at="02:00", overrides=size["train"])
    add_round_schedule(sim, at="03:00", rounds=1, targets=[f"persona:{opts.persona}"])
    # The nightly retrain is followed by the regression check and the served adapter's watch, as under `selftune
    # run`; the watch's own hourly schedule stays out, since the fake clock fires schedules only at night.
    install(sim, watch=False)
    return sim


def owner_holdout(sim: Settings, persona: str) -> Path | None:
    """The owner's evaluator-only reference answers for the persona (`holdout/adapters/<persona>.jsonl`): the
    gate and the improver's evaluator measure on them, no training reads them. Not the hidden holdout."""
    from agent.simulate.community import persona_data

    source = persona_data(persona) / "owner_holdout.jsonl"
    if not source.is_file():
        return None
    target = sim.holdout_dir / "adapters" / f"{persona}.jsonl"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return target


def _warm_up_job(sim: Settings, dataset: Path, overrides: dict[str, Any]) -> Any:
    """Fully fine-tune the tiny model on `dataset` through the job system and wait for it; the finished job."""
    from skills.jobs import JobManager
    from skills.jobs.submit import submit_training

    manager = JobManager(sim)
    try:
        doc = submit_training(sim, "full-small", dataset=dataset, requester="simulation", manager=manager, **overrides)
        job = manager.wait(doc.job_id, timeout=WARM_UP_TIMEOUT_S)
    finally:
        manager.close()
    if job.state != "succeeded":
        raise SelftuneError(f"The simulation's warm-up training ended {job.state}: {job.error or 'no message'}; "
                            f"see `selftune jobs logs {job.id}` with SELFTUNE_HOME={sim.home}.")
    return job


def _starter_dataset(sim: Settings, persona: str) -> Path:
    """The owner's dataset of the persona is the starter set (each nightly retrain merges the harvests with it)."""
    from agent.simulate.community import persona_data
    from skills.train.spec import owner_dataset

    dataset = owner_dataset(sim, persona)
    dataset.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(persona_data(persona) / "starter.jsonl", dataset)
    return dataset


def warm_tiny_base(sim: Settings, persona: str, config: Path, overrides: dict[str, Any]) -> Settings:
    """The tiny model fully fine-tuned on the persona's starter set (built once, cached in models/), made the
    simulation's base model."""
    dataset = _starter_dataset(sim, persona)
    digest = hashlib.sha256(dataset.read_bytes() + json.dumps(overrides, sort_keys=True).encode()).hexdigest()[:12]
    warm = sim.models_dir / f"tiny-sim-{persona}-{digest}"
    if not (warm / "config.json").is_file():
        job = _warm_up_job(sim, dataset, {**overrides, "name": f"warm-{persona}"})
        scratch = warm.with_name(warm.name + ".partial")
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.copytree(job.adapter, scratch)
        scratch.rename(warm)  # complete or absent: a crash never leaves a half-written base behind
    text = re.sub(r'(?m)^(base_model|model) = "tiny"$', lambda m: f"{m.group(1)} = {json.dumps(str(warm))}",
                  config.read_text(encoding="utf-8"))
    config.write_text(text, encoding="utf-8")
    return load_settings(config)


class Simulation:
    """One simulated run: the state dir, the chatroom, the clock, the measurer and the nightly entries."""

    def __init__(self, owner: Settings, opts: SimOptions, progress: Progress | None = None) -> None:
        self.owner, self.opts = owner, opts
        self.progress = progress or (lambda _m: None)
        self.stamp = stamp()
        self.report_dir = owner.artifacts_dir / "reports" / f"simulate-{self.stamp}"
        self.community = load_community(opts.persona)

    def run(self) -> dict[str, Any]:
        """Simulate the nights and return the JSON document (also written with the table and curves)."""
        from agent.simulate.report import write_report

        started = time.monotonic()
        home = self.owner.home / "simulate" / self.stamp
        with sim_environment(home, write_sim_config(self.owner, self.opts, home)):
            doc = self._simulate(prepare_home(self.opts, home / "selftune.toml"))
        doc["seconds"] = round(time.monotonic() - started, 1)
        doc["report_dir"] = str(self.report_dir)
        doc["files"] = write_report(doc, self.report_dir)
        return doc

    def _simulate(self, sim: Settings) -> dict[str, Any]:
        """Night 0's measurement, then every night; the JSON document without its files."""
        from agent.memory_hooks import router_with_memory
        from agent.simulate.report import poison_outcome
        from skills.train.adapters import served_map

        self.progress(f"night 0: {self.opts.persona} answers with its card on the base model")
        router, hooks = router_with_memory(sim)
        room = Chatroom(router, hooks.memory, f"discord:sim-{self.opts.persona}", self.community, self.opts.seed)
        measurer = Measurer(sim, self.opts.persona, self.community.rule, self.opts.tiny)
        clock = FakeClock(datetime.now(UTC))
        try:
            room.say("discord:sim-owner", f"talk like the {self.opts.persona}")  # the channel answers with its adapter
            self.progress("night 0: measuring the untuned persona on the hidden holdout")
            served = served_map(sim).get(self.opts.persona)
            entries = [self._kept({"night": 0, "served": served, "holdout": measurer.measure(served)})]
            for night in range(1, self.opts.nights + 1):
                entries.append(self._kept(self._night(sim, room, clock, measurer, night)))
        finally:
            hooks.close()
        doc = {"ok": True, "persona": self.opts.persona, "nights": self.opts.nights, "users": self.opts.users,
               "tiny": self.opts.tiny, "base_model": sim.base_model, "judge": measurer.judge_name,
               "poison_night": self.opts.poison_night or None, "state_dir": str(sim.home),
               "hidden_holdout_items": len(measurer.prompts), "entries": entries}
        doc["poison"] = poison_outcome(doc)
        return doc

    def _kept(self, entry: dict[str, Any]) -> dict[str, Any]:
        """Append the night to the report folder's nights.jsonl as it ends: an hour-long run that dies keeps
        the nights it measured."""
        self.report_dir.mkdir(parents=True, exist_ok=True)
        with open(self.report_dir / "nights.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry, default=str) + "\n")
        self.progress(f"night {entry['night']}: " + ", ".join(f"{k} {v}" for k, v in entry["holdout"].items()
                                                            if k in ("thumbs_up_rate", "adherence", "judge_win_rate")))
        return entry

    def _night(self, sim: Settings, room: Chatroom, clock: FakeClock, measurer: Measurer, night: int) -> dict[str, Any]:
        """Day `night` of chat, then the jobs due that night on the fake clock, then the hidden measurement."""
        from skills.providers.local import seed_sampling
        from skills.train.adapters import served_map

        poisoned = night == self.opts.poison_night
        self.progress(f"day {night}: {self.opts.users} users chat" + (" and one floods the channel" if poisoned else ""))
        seed_sampling(self.opts.seed * 1000 + night)  # answers sample at 0.8: the same seed gives the same week
        chat = room.day(self.opts.users, (TINY if self.opts.tiny else FULL)["per_user"], poisoner=poisoned)
        entry: dict[str, Any] = {"night": night, "poisoned": poisoned, "chat": chat.as_dict(), "fired": [],
                                 "retrain": None, "gate": None, "improver": [], "rollbacks": []}
        for due in clock.due(sim, night):
            self.progress(f"night {night}: {due.id} fires at {due.fire_at:%H:%M} (simulated)")
            entry["fired"].append({"schedule": due.id, "at": due.fire_at.isoformat()})
            if due.id.startswith("retrain:"):
                self._retrain(entry, due.func(**due.kwargs))
            else:
                self._improve(sim, entry, poisoned, due.kwargs.get("targets") or [])
        entry["served"] = served_map(sim).get(self.opts.persona)
        self.progress(f"night {night}: measuring {entry['served'] or 'the base model'} on the hidden holdout")
        entry["holdout"] = measurer.measure(entry["served"])
        return entry

    @staticmethod
    def _retrain(entry: dict[str, Any], outcome: dict[str, Any]) -> None:
        gate = ((outcome.get("report") or {}).get("gate")) or None
        entry["retrain"] = {"status": outcome["status"], "reason": outcome["reason"],
                            "candidate": outcome.get("candidate"), "steps": [s["step"] for s in outcome["steps"]]}
        entry["gate"] = {k: gate[k] for k in ("promote", "reason", "metric", "delta", "noise")} if gate else None
        entry["rollbacks"] += outcome.get("rollbacks") or []

    def _improve(self, sim: Settings, entry: dict[str, Any], poisoned: bool, targets: list[str]) -> None:
        """One bounded improver round (the compromised recipe generator joins on the poisoned night), then the
        regression check, as the scheduled round does."""
        from agent.simulate.poison import improver_round

        summary, rollbacks = improver_round(sim, self.opts.persona, targets, poisoned)
        entry["improver"] = [{"target": e.target, "verdict": e.verdict, "reason": e.reason, "generator": e.generator}
                             for e in summary.entries]
        entry["rollbacks"] += rollbacks
