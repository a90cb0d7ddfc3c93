"""Property: random names and paths (.., absolute, links, unicode, NUL) fed to every entry point that takes
one never put a file outside the state dir, and never fail with anything but a one-sentence SelftuneError."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from pydantic import ValidationError

from config.errors import SelftuneError
from config.names import NAME, check_name
from config.settings import Settings
from config.workspace import open_workspace
from skills.context import SkillContext
from skills.personas import list_personas, load_persona
from skills.registry import load_registry
from skills.train.spec import TrainSpec, spec_from_recipe
from tests.security.conftest import SECRET, VICTIM_TEXT, files_under

SEGMENTS = ["..", ".", "", "good.jsonl", "link.jsonl", "leak.jsonl", "leak.txt", "linkdir", "outside", "victim.txt",
            "secret.jsonl",
            "new.jsonl", "~", "datasets", "artifacts", "adapters", "home", "etc", "passwd", "selftune.db"]
# Any text but lone surrogates (which no file system API accepts as a str): NUL, newlines, RTL marks, emoji.
WEIRD = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
NAMES = st.one_of(st.from_regex(NAME, fullmatch=True), WEIRD, st.sampled_from(SEGMENTS + ["../../..", "a/b", "A"]))
RUN = hsettings(max_examples=60, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def paths(prefixes: list[str]) -> st.SearchStrategy[str]:
    """Relative or absolute paths built from tricky segments, random text and the test's own folders."""
    segment = st.one_of(st.sampled_from(SEGMENTS), WEIRD)
    relative = st.lists(segment, min_size=1, max_size=4).map("/".join)
    # The known ways out (from artifacts/datasets) come up often on their own; random compositions find the rest.
    escapes = st.sampled_from(["linkdir/new.jsonl", "../../../outside/new.jsonl", "../../../outside/victim.txt",
                               "link.jsonl", "leak.jsonl", "linkdir/victim.txt", "../../../new.jsonl"])
    absolute = st.tuples(st.sampled_from(prefixes), relative).map("".join)
    return st.one_of(escapes, st.sampled_from(SEGMENTS), relative, absolute)


def skill_args(path: st.SearchStrategy[str], names: st.SearchStrategy[str]) -> dict[str, st.SearchStrategy]:
    """Arguments for every skill that takes a path or a name; persona names never name an existing card."""
    return {
        "dataset.validate": st.fixed_dictionaries({"path": path}),
        "dataset.stats": st.fixed_dictionaries({"path": path, "tokens": st.just(False)}),
        "dataset.convert": st.fixed_dictionaries({"path": st.one_of(st.just("good.jsonl"), path), "output": path}),
        "dataset.split": st.fixed_dictionaries({"path": st.one_of(st.just("good.jsonl"), path),
                                                "output_dir": st.one_of(st.none(), path)}),
        "dataset.mix": st.fixed_dictionaries({"sources": st.lists(st.one_of(st.just("good.jsonl:1"), path),
                                                                  min_size=1, max_size=3), "output": path}),
        "dataset.build": st.fixed_dictionaries({"source": st.just("channel:general"), "out": st.one_of(st.none(), path),
                                                "persona": st.one_of(st.none(), names)}),
        "dataset.synth": st.fixed_dictionaries({"task": st.just("persona"), "output": path, "persona": names,
                                                "seeds": st.one_of(st.none(), path),
                                                "documents": st.lists(path, max_size=2)}),
        "train.submit": st.fixed_dictionaries({"persona": names, "recipe": st.one_of(st.none(), names),
                                               "dataset": st.one_of(st.just("good.jsonl"), path), "max_steps": st.just(1)}),
        "eval.run": st.fixed_dictionaries({"adapter": st.one_of(names, path), "against": st.one_of(st.just("base"), path),
                                           "persona": st.one_of(st.none(), names), "judge": st.just(False)}),
        "export.run": st.fixed_dictionaries({"adapter": st.one_of(names, path), "to": st.just("merged")}),
        "adapters.rollback": st.fixed_dictionaries({"persona": names, "to": st.one_of(st.none(), names, path)}),
    }


class Guard:
    """Snapshots what lies outside the state dir and checks each call leaves it as it was."""

    def __init__(self, settings: Settings, outside: Path) -> None:
        self.root, self.home, self.outside = settings.home.parent, settings.home, outside
        self.before = files_under(self.root, skip=self.home)

    def run(self, call: Callable[[], Any], named: list[str], allowed: tuple[type[BaseException], ...] = ()) -> None:
        """Call; only SelftuneError (one line) or `allowed` may come out; nothing outside may be read, appear
        or change."""
        existed = {p: _lexists(p) for p in named if os.path.isabs(p)}
        try:
            said = repr(call())
        except SelftuneError as exc:
            said = str(exc)
            assert "\n" not in said and "Traceback" not in said, said
        except allowed:
            said = ""
        assert SECRET not in said, "a file outside the datasets folders was read"
        assert files_under(self.root, skip=self.home) == self.before
        assert (self.outside / "victim.txt").read_text() == VICTIM_TEXT
        for path, was in existed.items():
            inside = _under(path, self.home)
            assert inside or _lexists(path) == was, f"{path!r} appeared outside the state dir"


def _lexists(path: str) -> bool:
    try:
        return os.path.lexists(path)
    except (ValueError, OSError):  # NUL bytes, names too long: nothing can exist there
        return False


def _under(path: str, home: Path) -> bool:
    try:
        return Path(path).resolve().is_relative_to(home.resolve())
    except (ValueError, OSError, RuntimeError):
        return False


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value.rsplit(":", 1)[0], value]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    return []


@pytest.mark.parametrize("skill", sorted(skill_args(st.just(""), st.just("")).keys()))
@RUN
@given(data=st.data())
def test_confined_skills_write_nothing_outside(skill: str, data: st.DataObject, settings: Settings, datasets: Path,
                                               outside: Path, mcp_ctx: SkillContext) -> None:
    registry, guard = _registry(), Guard(settings, outside)
    existing = set(list_personas(open_workspace(settings).path))
    prefixes = ["/", f"{outside}/", f"{settings.home}/", f"{datasets}/", f"{settings.artifacts_dir}/", "/tmp/"]
    names = NAMES.filter(lambda n: n not in existing)  # an existing persona would start real synthesis/training
    args = data.draw(skill_args(paths(prefixes), names)[skill])
    guard.run(lambda: registry.call(skill, args, mcp_ctx), _strings(args))


@RUN
@given(name=NAMES)
def test_names_that_pass_stay_inside_their_folder(name: str, settings: Settings, outside: Path) -> None:
    guard = Guard(settings, outside)
    workspace = open_workspace(settings).path
    try:
        check_name(name)
    except SelftuneError:
        accepted = False
    else:
        accepted = True
        folder = settings.artifacts_dir / "adapters"
        assert (folder / name).resolve().parent == folder.resolve()
    assume(name not in list_personas(workspace))
    guard.run(lambda: load_persona(workspace, name), [name])
    guard.run(lambda: TrainSpec.model_validate({"name": name, "persona": name, "dataset": "d.jsonl", "output_dir": "o"}),
              [name], allowed=(ValidationError,) if not accepted else ())
    guard.run(lambda: spec_from_recipe(settings, name, persona=name, dataset="/dev/null"), [name])


_REGISTRY: list[Any] = []


def _registry() -> Any:
    """One registry for all examples (loading skills imports every skill module)."""
    if not _REGISTRY:
        _REGISTRY.append(load_registry())
    return _REGISTRY[0]
