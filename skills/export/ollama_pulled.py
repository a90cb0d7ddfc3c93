"""Persona models the way Ollama users run them: `FROM` the model they pulled (e.g. qwen3:8b) + `ADAPTER` (the
LoRA as GGUF, megabytes) + `SYSTEM` from the persona card + `PARAMETER`s. The pulled model keeps its own TEMPLATE.

Before creating, the adapter's base is compared with the pulled model's `/api/show` details: a LoRA trained on
another architecture or size would load into garbage (or not at all), so it is refused in one sentence.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from config.errors import SelftuneError
from skills.export.ollama import modelfile

SIZE_TOLERANCE = 0.1  # 8.19B vs 8.03B is one size; 8B vs 7B (13 %) or 4B are not
BASE_COUNT_KEY = "selftune.base_parameter_count"  # written into our LoRA GGUFs (skills.export.gguf)
_SIZE = re.compile(r"^\s*([\d.]+)\s*([KMBT])", re.I)
_SCALE = {"K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}


def modelfile_from(base_model: str, adapter_gguf: Path, system: str | None, parameters: dict[str, Any]) -> str:
    """The Modelfile text (`ollama create NAME -f Modelfile` by hand does the same): no TEMPLATE line."""
    return modelfile(base_model, adapter_gguf, system, parameters, template=None)


def adapter_base(adapter_gguf: Path) -> tuple[str, int | None]:
    """(llama.cpp architecture, base parameter count or None) recorded in a LoRA GGUF's metadata."""
    import gguf

    fields = gguf.GGUFReader(str(adapter_gguf)).fields
    arch = str(fields["general.architecture"].contents()) if "general.architecture" in fields else "?"
    count = int(fields[BASE_COUNT_KEY].contents()) if BASE_COUNT_KEY in fields else None
    return arch, count


def parameter_size(text: str) -> int | None:
    """Ollama's parameter_size ("8.2B", "135.27M") as a count; None when it is not one."""
    match = _SIZE.match(text or "")
    return round(float(match.group(1)) * _SCALE[match.group(2).upper()]) if match else None


def _shown_size(shown: dict[str, Any]) -> int | None:
    info = shown.get("model_info") or {}
    count = info.get("general.parameter_count")
    return int(count) if count else parameter_size((shown.get("details") or {}).get("parameter_size", ""))


def _human(count: int | None) -> str:
    if count is None:
        return "unknown size"
    return f"{count / 1e9:.1f}B" if count >= 1e9 else f"{count / 1e6:.0f}M"


def check_same_base(adapter: str, arch: str, count: int | None, model: str, shown: dict[str, Any]) -> None:
    """Refuse (one sentence) when the adapter's base is another architecture or size than the Ollama model."""
    details = shown.get("details") or {}
    families = {details.get("family"), *(details.get("families") or [])} - {None, ""}
    size = _shown_size(shown)
    same_arch = arch in families
    same_size = count is None or size is None or abs(size - count) <= SIZE_TOLERANCE * max(size, count)
    if same_arch and same_size:
        return
    theirs = f"{details.get('family') or '?'} model of {_human(size)}"
    raise SelftuneError(f"Adapter {adapter} was trained on a {arch} model of {_human(count)}, but Ollama's {model} "
                        f"is a {theirs}, so it cannot apply there; set ollama.base_model (or the persona card's "
                        f"ollama_base_model) to the Ollama model of the base it was trained on.")


def _stops(parameters_text: str | None) -> list[str]:
    """The pulled model's own stop words, from show's `parameters` text (`stop "<|im_end|>"` lines)."""
    found = re.findall(r'^\s*stop\s+"?(.*?)"?\s*$', parameters_text or "", re.M)
    return [s for s in found if s]


def persona_parameters(shown: dict[str, Any], num_ctx: int, temperature: float,
                       repeat_penalty: float) -> dict[str, Any]:
    """PARAMETERs of a persona model: the pulled model's stops, num_ctx within its context, our sampling."""
    info = shown.get("model_info") or {}
    family = (shown.get("details") or {}).get("family", "")
    context = info.get(f"{family}.context_length")
    params: dict[str, Any] = {"temperature": temperature, "num_ctx": min(num_ctx, int(context or num_ctx)),
                              "repeat_penalty": repeat_penalty}
    if stops := _stops(shown.get("parameters")):
        params["stop"] = stops
    return params


def show(host: str, model: str) -> dict[str, Any]:
    """Ollama's POST /api/show for `model`; a model the server lacks is one sentence."""
    try:
        resp = httpx.post(f"{host}/api/show", json={"model": model}, timeout=30)
    except httpx.HTTPError as exc:
        raise SelftuneError(f"Cannot reach Ollama at {host} ({exc}); start it (`ollama serve`) or set ollama.host.") from None
    if resp.status_code == 404:
        raise SelftuneError(f"Ollama at {host} has no model '{model}'; run `ollama pull {model}` there, or set "
                            "ollama.base_model to a model it has.")
    if resp.status_code != 200:
        raise SelftuneError(f"Ollama at {host} could not show '{model}': {resp.text.strip()[:200]}.")
    return resp.json()


def create_from_pulled(host: str, name: str, base_model: str, adapter: str, adapter_gguf: Path,
                       system: str | None, settings_params: tuple[int, float, float],
                       progress: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Create `name` FROM `base_model` + ADAPTER + SYSTEM + PARAMETERs after checking the adapter fits it.

    settings_params: (num_ctx, temperature, repeat_penalty). Returns the create call's result with its parameters.
    """
    from skills.export.ollama import create_model

    host = host.rstrip("/")
    shown = show(host, base_model)
    check_same_base(adapter, *adapter_base(adapter_gguf), base_model, shown)
    parameters = persona_parameters(shown, *settings_params)
    result = create_model(host, name, None, adapter_gguf, system, progress, template=None, parameters=parameters,
                          from_model=base_model)
    return {**result, "from": base_model, "parameters": parameters}


def copy_model(host: str, source: str, destination: str) -> None:
    """Point `destination` at `source` (Ollama's POST /api/copy: a new name for the same layers)."""
    try:
        resp = httpx.post(f"{host.rstrip('/')}/api/copy", json={"source": source, "destination": destination},
                          timeout=30)
    except httpx.HTTPError as exc:
        raise SelftuneError(f"Cannot reach Ollama at {host} ({exc}); start it (`ollama serve`).") from None
    if resp.status_code != 200:
        raise SelftuneError(f"Ollama at {host} could not point {destination} at {source}: {resp.text.strip()[:200]}.")


def create_plain(host: str, name: str, base_model: str, system: str | None,
                 settings_params: tuple[int, float, float]) -> dict[str, Any]:
    """Create `name` FROM `base_model` with the persona's SYSTEM and PARAMETERs, no adapter (its base model)."""
    from skills.export.ollama import create_model

    host = host.rstrip("/")
    parameters = persona_parameters(show(host, base_model), *settings_params)
    return create_model(host, name, None, None, system, template=None, parameters=parameters, from_model=base_model)
