"""Every path argument is confined, by type: the skills and their path arguments come from the registry itself
(a new skill with a ReadPath/WritePath/... argument is covered without touching this file), each called as an
MCP client, a Discord user and a model's tool call with hostile paths (absolute, `..`, links out, random text).

The skill bodies are replaced by a recorder, so the property is the registry's alone: an outside path is refused
in one sentence naming the argument before the body runs; an inside one reaches the body resolved."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any, get_type_hints

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from agent.dispatch import skill_context
from config.errors import NotFound, SelftuneError, UsageError
from config.names import shown
from config.paths import OutsideFolders
from config.settings import Settings
from skills.context import Requester, SkillContext
from skills.paths import NotAPath, PathArg, ReadPath, WriteFolder, looks_like_a_path
from skills.registry import SkillInfo, SkillRegistrationError, SkillRegistry, build_skill, load_registry
from tests.security.test_property import paths

RUN = hsettings(max_examples=40, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
SAFE = {"read": "good.jsonl", "write": "new.jsonl", "folder": "out", "adapter": "./ok"}  # inside, and existing
LINK_OUT = {"read": "link.jsonl", "write": "link.jsonl", "folder": "linkdir", "adapter": "./linkout"}


@lru_cache(maxsize=1)
def registry() -> SkillRegistry:
    return load_registry()


def path_arguments() -> list[tuple[str, str]]:
    """(skill, argument) for every argument the registry knows names a file."""
    return [(skill.name, arg) for skill in registry().all() for arg in skill.paths]


IDENTITIES: dict[str, Callable[[Settings], SkillContext]] = {
    # What agent/mcp_server.py builds for every tool call.
    "mcp": lambda s: SkillContext(settings=s, requester=Requester(user="mcp:probe", transport="mcp", channel="mcp",
                                                                  permission="admin"), confined=True),
    # What the Discord bot and the router build for a Discord user (agent.dispatch decides confinement).
    "discord": lambda s: skill_context(s, Requester(user="discord:7", transport="discord", channel="c",
                                                    permission="admin"), chosen_by_model=False),
    # The local user's turn, but the model chose the call.
    "model": lambda s: skill_context(s, Requester(), chosen_by_model=True),
}


class Recorder:
    """Stands in for a skill body: records the arguments it was given."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        return {"ran": True}


def recorded(skill: SkillInfo) -> tuple[SkillRegistry, Recorder]:
    """A registry holding `skill` with its body replaced by a Recorder (same name, schema and path types)."""
    recorder, only = Recorder(), SkillRegistry()
    only.add(skill.model_copy(update={"function": recorder}))
    return only, recorder


@pytest.fixture
def adapter_inside(settings: Settings, outside: Path) -> Path:
    """artifacts/adapters/ok (an adapter folder, named './ok' so it is not read as a registry id) and
    artifacts/adapters/linkout, a link to the folder outside."""
    folder = settings.artifacts_dir / "adapters" / "ok"
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text("{}")
    (folder.parent / "linkout").symlink_to(outside, target_is_directory=True)
    return folder


def where_it_points(value: str, mark: PathArg, settings: Settings) -> Path | None:
    """The oracle: the real place a confined caller's value names, or None when the OS cannot name it."""
    if mark.weighted:
        from skills.dataset.mix import parse_weighted  # "path:weight" is the format, not the policy

        value = str(parse_weighted(value)[0])
    root = settings.artifacts_dir / ("adapters" if mark.access == "adapter" else "datasets")
    try:
        return (root / value).resolve()  # an absolute value replaces root
    except (OSError, ValueError, RuntimeError):
        return None


def inside(value: str, mark: PathArg, settings: Settings) -> bool | None:
    real = where_it_points(value, mark, settings)
    root = (settings.artifacts_dir / ("adapters" if mark.access == "adapter" else "datasets")).resolve()
    return None if real is None else real.is_relative_to(root)


def call_args(skill: SkillInfo, target: str, hostile: str) -> dict[str, Any]:
    """Valid arguments for `skill` with `hostile` in `target`: other required arguments get a safe value."""
    args: dict[str, Any] = {}
    for name, field in skill.args_model.model_fields.items():
        mark = skill.paths.get(name)
        if name == target:
            value = f"{hostile}:1" if mark.weighted else hostile
        elif mark is not None and field.is_required():
            value = SAFE[mark.access] + (":1" if mark.weighted else "")
        elif field.is_required():
            value = {"persona": "pirate", "source": "channel:c", "task": "persona"}.get(name, "x")
        else:
            continue
        args[name] = [value] if _is_list(skill, name) else value
    return args


def _is_list(skill: SkillInfo, name: str) -> bool:
    schema = skill.parameters["properties"][name]
    return schema.get("type") == "array" or any(s.get("type") == "array" for s in schema.get("anyOf", []))


def test_the_registry_knows_the_path_arguments() -> None:
    found = path_arguments()
    assert ("voice.transcribe", "path") in found
    assert {("dataset.convert", "output"), ("dataset.split", "output_dir"), ("dataset.mix", "sources"),
            ("dataset.synth", "documents"), ("train.submit", "dataset"), ("eval.run", "data"),
            ("export.run", "adapter")} <= set(found)


@pytest.mark.parametrize(("skill_name", "arg"), path_arguments())
@RUN
@given(data=st.data())
def test_every_path_argument_is_confined_before_the_skill_runs(
    skill_name: str, arg: str, data: st.DataObject, settings: Settings, datasets: Path, outside: Path,
    adapter_inside: Path,
) -> None:
    skill = registry().get(skill_name)
    mark = skill.paths[arg]
    prefixes = ["/", f"{outside}/", f"{settings.home}/", f"{datasets}/", f"{settings.artifacts_dir}/", "/tmp/"]
    hostile = data.draw(st.one_of(st.sampled_from(["/etc/passwd", "../../x", "link.jsonl", "linkdir/victim.txt",
                                                   str(outside / "victim.txt")]), paths(prefixes)), label="path")
    identity = data.draw(st.sampled_from(sorted(IDENTITIES)), label="identity")
    only, recorder = recorded(skill)
    args = call_args(skill, arg, hostile)
    sent = args[arg][0] if isinstance(args[arg], list) else args[arg]
    verdict = inside(sent, mark, settings)
    try:
        only.call(skill_name, args, IDENTITIES[identity](settings))
    except OutsideFolders as exc:
        said = str(exc)
        assert verdict is False, f"{hostile!r} is inside but was refused: {said}"
        assert said.startswith(f"Argument '{arg}' (") and "is outside selftune's folders" in said, said
        assert "\n" not in said and recorder.calls == []
        return
    except (UsageError, NotFound) as exc:  # an unusable name, a weight, an adapter folder that is not one
        assert verdict is not False or mark.unless is not None, f"{hostile!r} is outside: {exc}"
        assert "\n" not in str(exc) and recorder.calls == []
        return
    skipped = mark.unless is not None and mark.unless(sent)
    assert verdict is True or skipped, f"{hostile!r} is outside selftune's folders but reached {skill_name}"
    got = recorder.calls[0][arg]
    got = got[0] if isinstance(got, list) else got
    expected = sent if skipped else str(where_it_points(sent, mark, settings))
    assert got == (f"{expected}:1.0" if mark.weighted else expected)  # resolved: the body never re-resolves


@pytest.mark.parametrize("identity", sorted(IDENTITIES))
def test_every_path_skill_refuses_etc_passwd_and_a_link_out(identity: str, settings: Settings, datasets: Path,
                                                             adapter_inside: Path) -> None:
    """The known ways out, for every path argument and identity, without hypothesis's randomness."""
    for skill_name, arg in path_arguments():
        only, recorder = recorded(registry().get(skill_name))
        access = registry().get(skill_name).paths[arg].access
        for hostile in ("/etc/passwd", "../../../x", LINK_OUT[access]):
            args = call_args(registry().get(skill_name), arg, hostile)
            with pytest.raises(OutsideFolders, match=rf"^Argument '{arg}' \(.*is outside selftune's folders"):
                only.call(skill_name, args, IDENTITIES[identity](settings))
        assert recorder.calls == [], skill_name


def test_the_local_users_own_call_passes_paths_untouched(settings: Settings) -> None:
    only, recorder = recorded(registry().get("dataset.validate"))
    only.call("dataset.validate", {"path": "/etc/passwd"}, skill_context(settings, Requester(), chosen_by_model=False))
    assert recorder.calls == [{"path": "/etc/passwd", "format": "auto", "strict": False}]


@pytest.mark.parametrize("identity", ["mcp", "discord"])
def test_voice_transcribe_of_an_outside_file_is_refused_as_outside(identity: str, settings: Settings,
                                                                   outside: Path) -> None:
    """The real skill: nothing is opened, and an outside file that exists is refused like one that does not."""
    said = []
    for path in ("/etc/passwd", str(outside / "victim.txt"), str(outside / "no-such.ogg"), "../../../outside/victim.txt"):
        with pytest.raises(OutsideFolders) as refused:
            registry().call("voice.transcribe", {"path": path}, IDENTITIES[identity](settings))
        said.append(str(refused.value).replace(shown(path), "PATH"))
        assert str(refused.value).startswith(f"Argument 'path' ('{shown(path)}') is outside selftune's folders")
    assert len(set(said)) == 1, said  # whether an outside file exists is not told


def _skill(function: Callable[..., Any]) -> SkillInfo:
    return build_skill(function, {"name": "probe.paths", "description": "a probe"}, origin="builtin", version="0")


def test_a_file_argument_without_a_path_type_is_refused_at_registration() -> None:
    def reads(path: str) -> dict:
        return {}

    def writes_into(out_dir: Path | None = None) -> dict:
        return {}

    def many(documents: list[str]) -> dict:
        return {}

    for function in (reads, writes_into, many):
        with pytest.raises(SkillRegistrationError, match="looks like a file path but is not typed as one"):
            _skill(function)

    def typed(path: ReadPath, out_dir: WriteFolder | None = None, data_source: NotAPath = "x", text: str = "") -> dict:
        return {}

    assert set(_skill(typed).paths) == {"path", "out_dir"}


def test_every_built_in_file_argument_has_a_path_type() -> None:
    """The registry check holds for what ships: no skill failed to register, and each file-like name is typed."""
    assert registry().errors == []
    for skill in registry().all():
        if skill.origin != "builtin" or skill.path is None:
            continue
        hints = get_type_hints(skill.function)
        untyped = [a for a in skill.args_model.model_fields if looks_like_a_path(a, hints[a]) and a not in skill.paths]
        assert untyped == [], skill.name


def test_a_workspace_of_skills_reports_the_untyped_one(tmp_path: Path) -> None:
    """A skill folder taking `path: str` is not loaded, and the sentence says how to fix it."""
    from skills.registry import load_skill_folder

    folder = tmp_path / "reader"
    folder.mkdir()
    (folder / "SKILL.md").write_text("---\nname: reader.read\ndescription: Read a file.\n---\n")
    (folder / "skill.py").write_text("def read(path: str) -> dict:\n    return {'text': open(path).read()}\n")
    with pytest.raises(SkillRegistrationError) as refused:
        load_skill_folder(folder, origin="entrypoint:probe", version="0")
    assert "parameter 'path'" in str(refused.value) and "skills.paths" in str(refused.value)
    assert isinstance(refused.value, SelftuneError)


@pytest.mark.parametrize("who", ["discord", "model"])
def test_the_confirmation_question_reads_no_outside_path(who: str, settings: Settings, outside: Path) -> None:
    """An export over an earlier export asks first; for an outside adapter folder only the local user's own
    request is looked at: anyone else's is not read to ask (the call is then refused as outside)."""
    from agent import confirm

    (outside / "mine").mkdir()
    (outside / "mine" / "adapter_config.json").write_text("{}")
    (settings.artifacts_dir / "exports" / "mine" / "merged").mkdir(parents=True)
    export, args = registry().get("export.run"), {"adapter": str(outside / "mine"), "to": "merged"}
    assert confirm.check(settings, export, args, Requester()).needed  # the local user: it would overwrite
    requester = Requester(user="discord:7", transport="discord", permission="admin") if who == "discord" else Requester()
    assert not confirm.check(settings, export, args, requester, chosen_by_model=who == "model").needed
    with pytest.raises(OutsideFolders, match="^Argument 'adapter'"):
        registry().call("export.run", args, IDENTITIES[who](settings))
