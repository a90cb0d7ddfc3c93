"""Hot-swap: load, switch and unload LoRA adapters on a served base model without reloading it.

The base weights stay in memory once; each adapter adds only its small LoRA matrices (PEFT multi-adapter).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from config.errors import NotFound


class AdapterHost:
    """One base model serving any number of named adapters; `active=None` means the plain base."""

    def __init__(self, base_model: Any) -> None:
        self.model = base_model
        self.loaded: dict[str, Path] = {}
        self.active: str | None = None
        self._lock = threading.Lock()  # swaps must not interleave with a generation

    def load(self, name: str, adapter_dir: Path) -> None:
        """Load an adapter folder under `name` (no-op when already loaded from the same folder)."""
        from peft import PeftModel

        if not (Path(adapter_dir) / "adapter_config.json").is_file():
            raise NotFound(f"{adapter_dir} is not a LoRA adapter folder (no adapter_config.json).")
        with self._lock:
            if self.loaded.get(name) == Path(adapter_dir):
                return
            if isinstance(self.model, PeftModel):
                if name in self.loaded:
                    self.model.delete_adapter(name)
                self.model.load_adapter(str(adapter_dir), adapter_name=name)
            else:
                self.model = PeftModel.from_pretrained(self.model, str(adapter_dir), adapter_name=name)
            self.model.eval()
            self.loaded[name] = Path(adapter_dir)

    def activate(self, name: str | None) -> None:
        """Serve adapter `name`, or the plain base model with None."""
        with self._lock:
            if name is not None and name not in self.loaded:
                raise NotFound(f"Adapter '{name}' is not loaded (loaded: {', '.join(self.loaded) or 'none'}).")
            if name is not None:
                self.model.set_adapter(name)
            self.active = name

    def unload(self, name: str) -> None:
        """Remove an adapter's weights; the base returns when the last one goes."""
        with self._lock:
            if name not in self.loaded:
                return
            del self.loaded[name]
            if not self.loaded:
                self.model = self.model.unload()  # drop the LoRA layers, keep the untouched base
            else:
                if self.active == name:
                    self.model.set_adapter(next(iter(self.loaded)))
                self.model.delete_adapter(name)
            if self.active == name:
                self.active = None

    def forward(self, **inputs: Any) -> Any:
        """Run the model with the active adapter (or none)."""
        import torch

        with self._lock, torch.no_grad():
            if self.active is None and self.loaded:
                with self.model.disable_adapter():
                    return self.model(**inputs)
            return self.model(**inputs)

    def generate(self, **kwargs: Any) -> Any:
        """model.generate with the active adapter (or none)."""
        import torch

        with self._lock, torch.no_grad():
            if self.active is None and self.loaded:
                with self.model.disable_adapter():
                    return self.model.generate(**kwargs)
            return self.model.generate(**kwargs)
