"""Skill targets learn from the owner's own traffic: failed phrasings become examples, repeated sequences a composed
skill, and the evaluator replays the consented log plus its own holdout/skills/ set (which the generator never reads)."""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pluggy
import pytest
import yaml
from typer.testing import CliRunner

from agent.cli.main import app
from agent.replay import RESOLVER
from agent.router import Router
from config.messages import IncomingMessage
from config.settings import Settings
from config.state import connect
from config.workspace import open_workspace
from improver.eval_config import EvalConfig, from_settings
from improver.generators.skill_examples import SkillExamplesGenerator
from improver.loop import Loop
from improver.proposals import Draft
from improver.skill_replay import resolver_factory
from memory import consent
from memory import log as convlog
from memory.log import LoggedMessage
from skills import hookspecs
from skills.composed import load_composed
from skills.context import Requester, SkillContext
from skills.registry import load_registry, parse_skill_md
from tests.agent import fake_skills

REPO = Path(__file__).resolve().parents[2]
DATA = "data/pirate.jsonl"
FAILED = [f"could you teach pirate new tricks from {DATA}", f"pirate needs schooling with {DATA}",
          f"get pirate up to speed with {DATA}"]
Turn = tuple[str, str | None, str]  # (what the owner says, reply kind or None for no reply, reply text)


def _write_log(settings: Settings, turns: list[tuple[float, Turn]], channel: str = "general",
               consented: bool = True) -> None:
    """The owner's messages and the replies, `minutes` ago each, in a channel (consented or not)."""
    conn = connect(settings)
    convlog.init_schema(conn)
    consent.init_schema(conn)
    if consented:
        consent.set_consent(conn, channel, True, "owner")
    now = datetime.now(UTC)
    rows = []
    for minutes_ago, (text, kind, reply) in turns:
        said = LoggedMessage(channel=channel, author="owner", text=text, created_at=now - timedelta(minutes=minutes_ago))
        rows.append(said)
        if kind:
            rows.append(LoggedMessage(channel=channel, author="assistant", role="assistant", text=reply, kind=kind,
                                      reply_to=said.id, created_at=said.created_at + timedelta(seconds=1)))
    convlog.insert_messages(conn, rows)
    conn.close()


def _tune_log(settings: Settings) -> None:
    """Three failed phrasings, each rephrased until a tune started (once after a yes, once after a declined guess)."""
    started = ("command", "Started training job 1; I'll report progress here.")
    _write_log(settings, [
        (300, (FAILED[0], "chat", "Arr, I am not sure what ye mean.")),
        (299.5, (f"train pirate on {DATA}", *started)),
        (240, (FAILED[1], "error", "Sorry, that went wrong.")),
        (239.5, (f"!tune pirate dataset={DATA}", "question", "This takes about 20 min. Go ahead? (yes/no)")),
        (239, ("yes", *started)),
        (180, (FAILED[2], "question", "Did you mean: \u201cstatus\u201d? (yes/no)")),
        (179.5, ("no", "chat", "All right.")),
        (179, (f"train pirate on {DATA}", *started)),
        (120, ("status", "command", "No job is running.")),
        (60, ("how do I make tea?", "chat", "Boil water first, matey.")),
    ])
    # Never consented: its phrasing must not be learned.
    _write_log(settings, [(200, (f"school pirate from {DATA}", "chat", "Hm?")),
                          (199.5, (f"train pirate on {DATA}", *started))], channel="private", consented=False)


def _holdout(settings: Settings, rows: list[dict]) -> Path:
    path = settings.holdout_dir / "skills" / "owner.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def skill_cfg(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> EvalConfig:
    """The evaluator with the example-aware stand-in router; its process finds this checkout's tests package."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    open_workspace(settings).ensure()
    return from_settings(settings, skill_resolver=RESOLVER, bootstrap=1000)


def test_failed_phrasings_become_examples_that_the_evaluator_accepts(settings: Settings, skill_cfg: EvalConfig) -> None:
    _tune_log(settings)
    tune = {"skill": "train.submit", "args": {"persona": "pirate", "dataset": DATA}}
    _holdout(settings, [{"text": t, **tune} for t in FAILED] + [{"text": "status", "skill": "jobs.status"},
                                                                 {"text": "how do I make tea?", "skill": None}])
    summary = Loop(settings, eval_config=skill_cfg).run(rounds=1, targets=["skill:train.submit"])
    [entry] = summary.entries
    assert entry.verdict == "accepted", entry
    assert entry.files == ["skills/train.submit/SKILL.md"] and entry.generator == "skill-examples"
    # 8 logged requests (3 failed, 3 that reached the tune, status, tea) + 5 held-out: 7 of 13 resolved before.
    assert entry.baseline == pytest.approx(7 / 13) and entry.candidate == pytest.approx(1.0)
    assert entry.delta > entry.noise
    meta, _ = parse_skill_md(open_workspace(settings).read("skills/train.submit/SKILL.md"), "overlay")
    assert meta["name"] == "train.submit"
    assert meta["examples"] == ["could you teach {persona} new tricks from {dataset}",
                                "{persona} needs schooling with {dataset}", "get {persona} up to speed with {dataset}"]
    resolve = resolver_factory(RESOLVER)(open_workspace(settings).path)
    assert resolve(FAILED[1]).model_dump() == {"skill": "train.submit", "args": {"persona": "pirate", "dataset": DATA},
                                              "asks": None}
    again = Loop(settings, eval_config=skill_cfg).run(rounds=1, targets=["skill:train.submit"])
    assert again.entries[0].reason == "the generator had no new idea"
    # In chat, the merged examples now start a tune (the fake trainer skill, routed by the real declarations).
    pm = pluggy.PluginManager("selftune")
    pm.add_hookspecs(hookspecs)
    pm.register(fake_skills.Plugin(), name="selftune:fake")
    router = Router(settings, registry=load_registry(pm=pm, workspace=settings.workspace_dir))
    fake_skills.CALLS.clear()
    for text in FAILED:
        reply = router.handle(IncomingMessage(text=text, channel=f"c-{text}"))
        if reply.confirm:
            reply = router.handle(IncomingMessage(text="yes", channel=f"c-{text}"))
        assert reply.intent == "tune" and reply.job_id, (text, reply.text)
    assert [(name, args["persona"]) for name, args in fake_skills.CALLS] == [("train.submit", "pirate")] * 3


def test_an_example_that_steals_an_existing_phrasing_is_vetoed(settings: Settings, skill_cfg: EvalConfig) -> None:
    _tune_log(settings)
    steal = Draft(target="skill:jobs.cancel", generator="manual", changes={
        "skills/jobs.cancel/SKILL.md": "---\nname: jobs.cancel\nexamples: ['status', '" + FAILED[0] + "']\n---\n"})

    class Fixed:
        name = "manual"

        def propose(self, target: str, history: list) -> Draft:
            return steal

        def feedback(self, proposal: object, verdict: object) -> None:
            pass

    summary = Loop(settings, eval_config=skill_cfg, generator_for=lambda _t: Fixed()).run(
        rounds=1, targets=["skill:jobs.cancel"])
    [entry] = summary.entries
    assert entry.verdict == "rejected" and entry.reason.startswith("regression: 1 request(s)"), entry
    assert "'status'" in entry.reason
    assert not (open_workspace(settings).path / "skills" / "jobs.cancel").exists()


def test_the_generator_never_reads_the_evaluator_only_set(settings: Settings, skill_cfg: EvalConfig) -> None:
    _tune_log(settings)
    secret = _holdout(settings, [{"text": "secret phrasing for pirate", "skill": "train.submit",
                                  "args": {"persona": "pirate"}}])
    opened: list[str] = []
    watching = [True]

    def audit(event: str, args: tuple) -> None:
        if watching[0] and event == "open" and isinstance(args[0], str | Path):
            opened.append(str(args[0]))

    sys.addaudithook(audit)
    try:
        generator = SkillExamplesGenerator(settings, resolver_factory(skill_cfg.skill_resolver))
        draft = generator.propose("skill:train.submit", [])
        targets = generator.targets()
    finally:
        watching[0] = False
    assert draft is not None and "secret" not in json.dumps(draft.changes)
    assert targets == ["skill:train.submit"]
    assert not [p for p in opened if str(settings.holdout_dir) in p or secret.name in p], opened
    assert any(p.endswith("SKILL.md") for p in opened)  # the hook did see the generator's reads


def _sequence_log(settings: Settings, asked_in_one: bool) -> None:
    """Four times: (optionally a failed "do the usual") tune pirate, then eval pirate five minutes later."""
    turns: list[tuple[float, Turn]] = []
    for i in range(4):
        t = 400 - 90 * i
        if asked_in_one:
            turns.append((t + 0.5, ("do the usual for pirate", "chat", "The usual what, matey?")))
        turns.append((t, (f"!tune pirate dataset={DATA}", "command", "Started training job.")))
        turns.append((t - 5, ("!eval pirate", "command", "pirate: win rate 0.6 against base.")))
    _write_log(settings, turns)


@pytest.mark.parametrize("asked_in_one", [True, False])
def test_a_composed_skill_is_accepted_only_when_the_traffic_uses_it(settings: Settings, skill_cfg: EvalConfig,
                                                                    asked_in_one: bool) -> None:
    _sequence_log(settings, asked_in_one)
    summary = Loop(settings, eval_config=skill_cfg).run(rounds=1, targets=["skills"])
    entries = {e.target: e for e in summary.entries}
    entry = entries["skill:train-then-eval"]
    assert entry.files == ["skills/train-then-eval/SKILL.md"]
    if not asked_in_one:  # nobody asked for both at once: nothing in the replay uses it
        assert entry.verdict == "rejected" and "within the noise floor" in entry.reason, entry
        return
    assert entry.verdict == "accepted", entry
    folder = open_workspace(settings).path / "skills" / "train-then-eval"
    meta = yaml.safe_load((folder / "SKILL.md").read_text().split("---")[1])
    assert meta["examples"] == ["do the usual for {persona}"]
    assert meta["steps"] == [{"skill": "train.submit", "args": {"persona": "{persona}", "dataset": DATA}},
                             {"skill": "eval.run", "args": {"adapter": "{persona}"}}]
    skill = load_composed(folder, load_registry())
    assert (skill.permission, skill.effects, skill.parameters["required"]) == ("train", "writes", ["persona"])


def test_a_composed_skill_runs_its_steps_and_stops_at_the_first_error(settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "status-then-cancel"
    folder.mkdir()
    (folder / "SKILL.md").write_text("---\nname: status-then-cancel\ndescription: Show a job, then cancel it.\n"
                                     "steps:\n  - skill: jobs.status\n    args: {job: '{job}'}\n"
                                     "  - skill: jobs.cancel\n    args: {job_id: '{job}'}\n---\n")
    registry = load_registry()
    skill = load_composed(folder, registry)
    assert (skill.permission, skill.effects) == ("train", "writes")
    registry.add(skill)
    reader = SkillContext(settings=settings, requester=Requester(user="u", permission="read", transport="discord"))
    with pytest.raises(Exception, match="needs the 'train' permission"):
        registry.call("status-then-cancel", {"job": "nope"}, reader)
    admin = SkillContext(settings=settings, requester=Requester(user="u", permission="admin"))
    result = registry.call("status-then-cancel", {"job": "nope"}, admin)
    assert result["ok"] is False and [s["skill"] for s in result["steps"]] == ["jobs.status"]
    assert "stopped at jobs.status (step 1 of 2)" in result["message"]


def test_cli_improve_run_takes_skill_targets(settings: Settings, skill_cfg: EvalConfig) -> None:
    _tune_log(settings)
    result = CliRunner().invoke(app, ["improve", "run", "--target", "skills", "--rounds", "1", "--json"])
    assert result.exit_code == 0, result.output
    [entry] = json.loads(result.stdout)["entries"]
    # Today's router ignores examples, so the replay cannot rise yet; the round is measured, not refused.
    assert entry["target"] == "skill:train.submit" and entry["verdict"] in ("accepted", "rejected")
    assert entry["baseline"] is not None and "no metric" not in entry["reason"], entry
    assert "skill:<name>" in CliRunner().invoke(app, ["improve", "run", "--help"]).output


def test_a_composed_workspace_skill_is_routed_permission_checked_and_confirmed(settings: Settings) -> None:
    folder = open_workspace(settings).path / "skills" / "train-then-eval"
    folder.mkdir(parents=True)
    (folder / "SKILL.md").write_text(
        "---\nname: train-then-eval\ndescription: Train a persona on its usual data, then evaluate it.\n"
        "examples: ['do the usual for {persona}']\nsteps:\n"
        f"- {{skill: train.submit, args: {{persona: '{{persona}}', dataset: {DATA}}}}}\n"
        "- {skill: eval.run, args: {adapter: '{persona}'}}\n---\n", encoding="utf-8")
    pm = pluggy.PluginManager("selftune")
    pm.add_hookspecs(hookspecs)
    pm.register(fake_skills.Plugin(), name="selftune:fake")
    settings.auth.trainers.append("discord:7")
    router = Router(settings, registry=load_registry(pm=pm, workspace=settings.workspace_dir))
    fake_skills.CALLS.clear()

    def say(text: str, user: str = "7") -> str:
        return router.handle(IncomingMessage(transport="discord", channel="c", user=user, text=text)).text

    assert "needs the 'train' permission" in say("do the usual for pirate", user="8")
    assert "This will run train.submit, then eval.run (persona=pirate)." in say("do the usual for pirate")
    assert fake_skills.CALLS == []
    assert "train-then-eval ran train.submit, eval.run" in say("yes")
    assert [name for name, _ in fake_skills.CALLS] == ["train.submit", "eval.run"]
