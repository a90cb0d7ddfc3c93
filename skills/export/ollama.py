"""Ollama export: a Modelfile (FROM + ADAPTER + TEMPLATE + SYSTEM + PARAMETER) and model creation
through the `ollama` client against settings.ollama.host (blobs uploaded first, progress streamed).

Persona models (`create_persona_model`) take TEMPLATE and stop words from the base GGUF's own chat template,
SYSTEM from the persona card and num_ctx capped by the GGUF's context length."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from config.errors import SelftuneError

# ChatML in Ollama's Go template syntax (the template SmolLM2 and the tiny model were trained with).
CHATML_TEMPLATE = (
    "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}<|im_start|>assistant\n"
)
PARAMETERS: dict[str, Any] = {"stop": ["<|im_end|>", "<|im_start|>"], "temperature": 0.7}


def modelfile(base: Path | str, adapter_gguf: Path, system: str | None, parameters: dict[str, Any] = PARAMETERS,
              template: str | None = CHATML_TEMPLATE) -> str:
    """The Modelfile text a user can also feed to `ollama create -f` by hand: FROM a base GGUF with our TEMPLATE,
    or (template=None) FROM a model the user pulled, whose own template Ollama keeps."""
    lines = [f"FROM {base}", f"ADAPTER {adapter_gguf}"] + ([f'TEMPLATE """{template}"""'] if template else [])
    if system:
        lines.append(f'SYSTEM """{system}"""')
    for key, value in parameters.items():
        for item in value if isinstance(value, list) else [value]:
            lines.append(f'PARAMETER {key} "{item}"' if isinstance(item, str) else f"PARAMETER {key} {item}")
    return "\n".join(lines) + "\n"


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            sha.update(chunk)
    return f"sha256:{sha.hexdigest()}"


def _upload(client: Any, host: str, path: Path) -> str:
    """Upload a file as a blob unless the server already has it (HEAD /api/blobs/:digest)."""
    digest = _digest(path)
    if httpx.head(f"{host}/api/blobs/{digest}", timeout=30).status_code != 200:
        client.create_blob(path)
    return digest


def server_version(host: str, timeout: float = 2.0) -> str | None:
    """The Ollama server's version, or None when nothing answers at `host`."""
    try:
        return httpx.get(f"{host.rstrip('/')}/api/version", timeout=timeout).json().get("version", "?")
    except (httpx.HTTPError, ValueError):
        return None


def create_model(host: str, name: str, base_gguf: Path | None, adapter_gguf: Path | None, system: str | None,
                 progress: Callable[[dict[str, Any]], None] | None = None, *, template: str | None = CHATML_TEMPLATE,
                 parameters: dict[str, Any] = PARAMETERS, from_model: str | None = None) -> dict[str, Any]:
    """Create `name` in the Ollama server at `host` (on a base GGUF file, or `from_model` already in Ollama);
    returns its version and the final status."""
    import ollama

    host = host.rstrip("/")
    version = server_version(host, timeout=10)
    if version is None:
        raise SelftuneError(f"Cannot reach Ollama at {host}; start it (`ollama serve`) or set ollama.host.")
    client = ollama.Client(host=host)
    try:
        files = {base_gguf.name: _upload(client, host, base_gguf)} if base_gguf is not None else None
        adapters = {adapter_gguf.name: _upload(client, host, adapter_gguf)} if adapter_gguf is not None else None
        status = ""
        for update in client.create(model=name, from_=from_model, files=files, adapters=adapters, template=template,
                                    system=system, parameters=parameters, stream=True):
            status = update.status or status
            if progress:
                progress({"event": "message", "message": f"ollama: {status}"})
    except (ollama.ResponseError, httpx.HTTPError) as exc:
        raise SelftuneError(f"Ollama at {host} refused to create {name}: {exc}.") from None
    if status != "success":
        raise SelftuneError(f"Ollama at {host} stopped creating {name} at '{status}'; see the Ollama server log.")
    return {"host": host, "ollama_version": version, "model": name, "status": status}


def gguf_chat(base_gguf: Path) -> tuple[str | None, int | None]:
    """(Jinja chat template, context length) stored in a GGUF's metadata; None where absent."""
    import gguf

    fields = gguf.GGUFReader(str(base_gguf)).fields
    template = fields["tokenizer.chat_template"].contents() if "tokenizer.chat_template" in fields else None
    arch = fields["general.architecture"].contents() if "general.architecture" in fields else ""
    key = f"{arch}.context_length"
    return template, (int(fields[key].contents()) if key in fields else None)


def persona_modelfile_parts(base_gguf: Path, num_ctx: int) -> tuple[str, dict[str, Any]]:
    """(TEMPLATE, PARAMETER map) for a model on this base: its own chat format, num_ctx within its context."""
    from skills.chat_templates import ollama_template

    jinja, context = gguf_chat(base_gguf)
    template, stops = ollama_template(jinja) or (CHATML_TEMPLATE, PARAMETERS["stop"])
    return template, {"stop": stops, "num_ctx": min(num_ctx, context or num_ctx), "temperature": 0.7}


def create_persona_model(host: str, name: str, base_gguf: Path, adapter_gguf: Path, system: str | None,
                         num_ctx: int) -> dict[str, Any]:
    """Create a persona's model (base + adapter, SYSTEM from its card, TEMPLATE from the base GGUF)."""
    template, parameters = persona_modelfile_parts(base_gguf, num_ctx)
    return create_model(host, name, base_gguf, adapter_gguf, system, template=template, parameters=parameters)


def has_model(host: str, name: str, timeout: float = 10.0) -> bool:
    """Whether the Ollama server at `host` already has the model `name` (GET /api/tags)."""
    import ollama

    try:
        listed = ollama.Client(host=host.rstrip("/"), timeout=timeout).list()
    except (ollama.ResponseError, httpx.HTTPError, ConnectionError):
        return False
    return any(m.model == name for m in listed.models)
