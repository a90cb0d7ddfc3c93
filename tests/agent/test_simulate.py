"""`selftune simulate --nights 3 --tiny --json` end to end in a process of its own: one entry per night with the
served adapter, gate verdict and hidden-holdout metrics; the poisoned night is not served past the next one;
the schedules fire once per simulated night; only the final measurement ever opens the hidden holdout."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from config.settings import Settings

pytestmark = [pytest.mark.timeout(900)]
SLOW = pytest.mark.slow  # the simulated run takes ~1.5 min alone on 2 cores, ~3.5 min when they are shared
REPO = Path(__file__).resolve().parents[2]
AUDIT = Path(__file__).with_name("simulate_audit")
METRICS = ("judge_win_rate", "adherence", "thumbs_up_rate", "forgetting_accuracy", "forgetting_instruction_following")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One simulated run (module-wide: it takes minutes); its JSON, audit log and state dirs."""
    from tests.conftest import MODEL_CACHE

    root = tmp_path_factory.mktemp("simulate")
    home, log = root / "home", root / "audit.jsonl"
    home.mkdir()
    (home / "models").symlink_to(MODEL_CACHE, target_is_directory=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SELFTUNE_")}
    env.update(SELFTUNE_HOME=str(home), SIMULATE_AUDIT_LOG=str(log),
               PYTHONPATH=os.pathsep.join([str(AUDIT), str(REPO)]))
    proc = subprocess.run([sys.executable, "-m", "agent.cli.main", "simulate", "--nights", "3", "--tiny", "--json"],
                          cwd=root, env=env, capture_output=True, text=True, timeout=840)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    doc = json.loads(proc.stdout)
    audit = [json.loads(line) for line in log.read_text().splitlines()]
    return {"doc": doc, "audit": audit, "home": home}


@SLOW
def test_one_entry_per_night_with_served_adapter_gate_and_holdout_metrics(run: dict) -> None:
    doc = run["doc"]
    assert doc["ok"] and doc["tiny"] and doc["hidden_holdout_items"] >= 10
    assert [e["night"] for e in doc["entries"]] == [0, 1, 2, 3]
    for entry in doc["entries"][1:]:
        assert "served" in entry and entry["retrain"]["status"] in ("promoted", "rejected", "skipped", "failed")
        if entry["retrain"]["status"] in ("promoted", "rejected"):
            assert entry["gate"]["promote"] == (entry["retrain"]["status"] == "promoted") and entry["gate"]["reason"]
        assert entry["chat"]["messages"] > 0 and entry["chat"]["up"] + entry["chat"]["down"] > 0, entry["chat"]
        assert [i["target"] for i in entry["improver"]][:1] == ["persona:pirate"], entry["improver"]
    for entry in doc["entries"]:
        assert all(0.0 <= entry["holdout"][m] <= 1.0 for m in METRICS), entry["holdout"]
    report = Path(doc["report_dir"])
    assert report.parent == run["home"] / "artifacts" / "reports" and report.name.startswith("simulate-")
    assert json.loads((report / "simulate.json").read_text())["entries"] == doc["entries"]
    kept = [json.loads(line) for line in (report / "nights.jsonl").read_text().splitlines()]
    assert [e["night"] for e in kept] == [0, 1, 2, 3] and kept[-1]["holdout"] == doc["entries"][-1]["holdout"]
    assert (Path(doc["state_dir"]) / "holdout" / "adapters" / "pirate.jsonl").is_file(), "the owner's evaluator-only set"
    assert all((report / f"{m}.png").read_bytes()[:4] == b"\x89PNG" for m in METRICS)
    assert "poisoned" in (report / "table.txt").read_text()


@SLOW
def test_the_poisoned_night_is_not_served_past_the_next_night(run: dict) -> None:
    doc = run["doc"]
    poison, entries = doc["poison"], doc["entries"]
    assert poison["night"] == 2 and entries[2]["poisoned"] and entries[2]["chat"]["poisoned"] > 0
    recipe = poison["recipe_proposal"]
    assert recipe["generator"] == "simulated-poisoner" and recipe["verdict"] == "rejected"
    assert "out of bounds: learning_rate 0.5" in recipe["reason"]
    candidate = poison["candidate"]
    assert candidate is None or entries[3]["served"] != candidate, poison
    # a defence held: the gate or the next night's regression check (a later candidate merely replacing the
    # poisoned one would pass the line above with a broken gate, so it does not count)
    assert poison["outcome"].startswith(("refused by the gate", "rolled back", "no candidate")), poison


@SLOW
def test_the_schedules_fire_once_per_simulated_night_on_the_fake_clock(run: dict) -> None:
    doc = run["doc"]
    fired = [[(f["schedule"], datetime.fromisoformat(f["at"])) for f in e["fired"]] for e in doc["entries"][1:]]
    assert [[name for name, _ in night] for night in fired] == [["retrain:pirate", "improver:rounds"]] * 3
    retrains = [night[0][1] for night in fired]
    assert [(b - a) for a, b in zip(retrains, retrains[1:], strict=False)] == [timedelta(days=1)] * 2
    assert retrains[0].hour == 2 and fired[0][1][1].hour == 3
    assert doc["seconds"] < 3 * 24 * 3600  # three simulated days in minutes: nothing slept
    with sqlite3.connect(Path(doc["state_dir"]) / "selftune.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM retrain_runs").fetchone()[0] == 3
    # The simulation ran in its own state dir: the owner's has no conversation, schedule or workspace change from it.
    assert Path(doc["state_dir"]).parent == run["home"] / "simulate"
    owner = run["home"] / "selftune.db"
    if owner.exists():
        with sqlite3.connect(owner) as conn:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            for table in {"messages", "schedules", "retrain_runs"} & tables:
                assert conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == 0, table
    if (run["home"] / "workspace").exists():
        log = subprocess.run(["git", "log", "--format=%s"], cwd=run["home"] / "workspace", capture_output=True,
                             text=True, check=True).stdout
        assert "simulation" not in log, log


@SLOW
def test_only_the_final_measurement_reads_the_hidden_holdout(run: dict) -> None:
    started = [r for r in run["audit"] if r.get("started")]
    opens = [r for r in run["audit"] if "path" in r]
    # The hook ran in every process, training workers and the improver's evaluator included, so it could have
    # caught them reading the file.
    commands = " ".join(" ".join(r["orig_argv"]) for r in started)
    assert "skills.train.worker" in commands or "skills.jobs" in commands, commands[:500]
    assert "improver.evaluator" in commands, commands[:500]
    assert opens, "the final measurement never read the hidden holdout"
    main = {r["pid"] for r in started if "simulate" in r["orig_argv"]}
    for record in opens:
        assert record["pid"] in main, f"process {record['argv']} opened {record['path']}"
        assert "read_hidden_holdout" in record["stack"] and "measure" in record["stack"], record["stack"]


def test_the_hidden_holdout_shares_no_prompt_with_the_conversations() -> None:
    from agent.simulate.community import load_community
    from agent.simulate.measure import read_hidden_holdout

    assert not set(read_hidden_holdout("pirate")) & set(load_community("pirate").prompts)


def test_the_owners_evaluator_only_set_is_neither_chatted_nor_hidden() -> None:
    from agent.simulate.community import load_community, persona_data
    from agent.simulate.measure import read_hidden_holdout

    rows = [json.loads(line) for line in (persona_data("pirate") / "owner_holdout.jsonl").read_text().splitlines()]
    owner = {r["messages"][0]["content"] for r in rows}
    assert len(owner) >= 8 and not owner & (set(read_hidden_holdout("pirate")) | set(load_community("pirate").prompts))


def test_the_users_want_an_answer_not_a_grunt() -> None:
    from agent.simulate.community import load_community

    rule = load_community("pirate").rule
    assert not rule.likes("Arr, matey.")
    assert rule.likes("Arr matey, water them when the soil be dry and give them sunlight.")
    assert not rule.likes("Water them when the soil is dry and give them plenty of sunlight every day.")
    assert not rule.likes("Arr " + "matey " * 40)
    assert not rule.likes("Aye, matey, aye, aye, aye, aye, aye, aye, aye, aye, aye, aye, aye, aye, aye, aye, a")
    assert not rule.likes("Arr, matey. I've got a tip, matey. I've got a tip, matey.")


def test_an_unknown_persona_is_one_sentence(settings: Settings) -> None:
    from typer.testing import CliRunner

    from agent.cli.main import app

    result = CliRunner().invoke(app, ["simulate", "--persona", "nobody", "--tiny", "--json"])
    assert result.exit_code == 1, result.output
    doc = json.loads(result.stdout)
    assert doc["ok"] is False and "no simulated community for persona 'nobody'" in doc["error"]


def test_a_persona_that_is_a_path_is_refused_before_anything_is_read(settings: Settings, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from agent.cli.main import app

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "community.toml").write_text("[hidden_rule]\nmarkers = []\nmax_words = 1\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["simulate", "--persona", str(outside), "--tiny", "--json"])
    doc = json.loads(result.stdout)
    assert result.exit_code != 0 and doc["ok"] is False and "not a valid persona name" in doc["error"], doc
