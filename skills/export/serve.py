"""A real llama.cpp server (the xllamacpp wheel) on 127.0.0.1: the base GGUF plus LoRA adapters,
used through the OpenAI client; the active adapter changes without a restart (POST /lora-adapters)."""

from __future__ import annotations

import json
import logging
import socket
import urllib.request
from pathlib import Path
from typing import Any

from config.errors import NotFound, SelftuneError

log = logging.getLogger(__name__)


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LlamaServer:
    """llama.cpp's HTTP server in this process; adapters are loaded at start and switched by name."""

    def __init__(self, base_gguf: Path, adapters: dict[str, Path] | None = None, *, port: int | None = None,
                 n_ctx: int = 2048, threads: int = 1, parallel: int = 1) -> None:
        self.base_gguf, self.adapters = Path(base_gguf), dict(adapters or {})
        self.port, self.n_ctx, self.threads = port or free_port(), n_ctx, threads
        self.parallel = parallel  # slots decoded together in one batch (requests sent at once share each step)
        self._server: Any = None

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL (…/v1)."""
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> LlamaServer:
        """Load the model and adapters (all at scale 0: the base answers until `use` picks one)."""
        import xllamacpp as xlc

        for path in [self.base_gguf, *self.adapters.values()]:
            if not Path(path).is_file():
                raise NotFound(f"GGUF file {path} does not exist; export it with `selftune export ADAPTER --to gguf`.")
        params = xlc.CommonParams()
        params.model.path = str(self.base_gguf)
        params.hostnames, params.port, params.n_ctx = ["127.0.0.1"], self.port, self.n_ctx
        params.cpuparams.n_threads = params.cpuparams_batch.n_threads = self.threads
        params.n_parallel, params.kv_unified = self.parallel, True  # the slots share n_ctx as they need it
        params.lora_adapters = [xlc.CommonAdapterLoraInfo(str(p), 0.0) for p in self.adapters.values()]
        params.lora_init_without_apply = True
        try:
            self._server = xlc.Server(params)
        except Exception as exc:  # llama.cpp reports load failures as RuntimeError with its own text
            raise SelftuneError(f"llama.cpp could not load {self.base_gguf}: {exc}.") from None
        return self

    def use(self, adapter: str | None) -> None:
        """Serve with the named adapter (None: the plain base), without restarting the server."""
        if adapter is not None and adapter not in self.adapters:
            raise NotFound(f"Adapter '{adapter}' is not loaded in this server (loaded: {', '.join(self.adapters) or 'none'}).")
        scales = [{"id": i, "scale": 1.0 if name == adapter else 0.0} for i, name in enumerate(self.adapters)]
        self._post("/lora-adapters", scales)

    def loaded(self) -> list[dict[str, Any]]:
        """llama.cpp's view of the adapters: id, path, scale."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/lora-adapters", timeout=10) as resp:
            return json.loads(resp.read())

    def _post(self, path: str, body: Any) -> None:
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=10) as resp:
            resp.read()

    def client(self) -> Any:
        """An OpenAI client pointed at this server."""
        import openai

        return openai.OpenAI(base_url=self.base_url, api_key="not-needed", timeout=60, max_retries=0)

    def stop(self) -> None:
        """Shut the server down (llama.cpp stops its loop when the Server object goes away)."""
        self._server = None

    def __enter__(self) -> LlamaServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def served_adapters(settings: Any, personas: list[str] | None = None) -> dict[str, Any]:
    """The base GGUF and each promoted persona's LoRA GGUF (exported when needed), named by served name.

    Returns {base_gguf, adapters: {served name: gguf path}, personas: {persona: served name}, skipped: [...]}.
    Each LoRA GGUF is linked as artifacts/serve/<served name>.gguf, the name clients find in /lora-adapters.
    """
    from config.workspace import open_workspace
    from skills.export.run import base_gguf_for, export_adapter
    from skills.personas import require_persona
    from skills.providers.persona import served_name
    from skills.train.adapters import served_map

    served = served_map(settings)
    wanted = personas or sorted(served)
    for persona in personas or []:  # a misspelled name is an unknown persona, not one that serves nothing
        require_persona(open_workspace(settings).path, persona)
    missing = [p for p in wanted if p not in served]
    if missing:
        raise NotFound(f"Persona(s) {', '.join(missing)} serve no adapter (serving: {', '.join(sorted(served)) or 'none'}); "
                       "promote one with `selftune adapters promote PERSONA ADAPTER`.")
    links = settings.artifacts_dir / "serve"
    links.mkdir(parents=True, exist_ok=True)
    doc: dict[str, Any] = {"base_gguf": None, "adapters": {}, "personas": {}, "skipped": []}
    for persona in wanted:
        exported = export_adapter(settings, served[persona], "gguf")
        if doc["base_gguf"] not in (None, exported["base_gguf"]):  # one server carries one base
            doc["skipped"].append(f"{persona} ({served[persona]} is on another base)")
            continue
        doc["base_gguf"] = exported["base_gguf"]
        name = served_name(served[persona])
        link = links / f"{name}.gguf"
        link.unlink(missing_ok=True)
        link.symlink_to(Path(exported["path"]).resolve())
        doc["adapters"][name], doc["personas"][persona] = str(link), name
    doc["base_gguf"] = doc["base_gguf"] or str(base_gguf_for(settings.base_model, settings))
    return doc


def served_models(settings: Any, doc: dict[str, Any]) -> list[Any]:
    """The names `selftune serve` answers to: 'base', then each served persona with its adapter and card's system
    prompt. The adapter's served name (pirate-lora-v1) and the configured chat model's name stay accepted as
    aliases: selftune's own openai provider asks by them."""
    from skills.export.openai_front import ServedModel
    from skills.personas import load_persona

    models = [ServedModel(name="base", aliases=[settings.llm.model, Path(doc["base_gguf"]).stem])]
    for persona, adapter in doc["personas"].items():
        card = load_persona(settings.workspace_dir, persona)
        models.append(ServedModel(name=persona, adapter=adapter, system_prompt=card.system_prompt, aliases=[adapter]))
    return models
