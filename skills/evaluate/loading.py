"""Load an adapter (found with `skills.train.lookup`) on its base model with PEFT, for evaluation."""

from __future__ import annotations

import logging
from typing import Any

from config.errors import SelftuneError
from config.settings import Settings
from skills.train.lookup import AdapterRef, base_model_of

log = logging.getLogger(__name__)
CANDIDATE = "candidate"
AGAINST = "against"


def load_with_adapters(settings: Settings, candidate: AdapterRef, against: AdapterRef | None = None) -> tuple[Any, Any]:
    """Base model + the candidate adapter (and optionally a second one to compare against), in eval mode."""
    from peft import PeftModel

    from skills.models import load_model

    for ref in (candidate, against):
        if ref is not None and not (ref.path / "adapter_config.json").is_file():  # a full fine-tune's model folder
            raise SelftuneError(f"{ref.name} is a full fine-tune; evaluation compares LoRA adapters with their base, "
                                f"so export it (`selftune export {ref.name} --to gguf`) and judge that model instead.")
    base, tokenizer = load_model(base_model_of(candidate, settings), settings.models_dir)
    try:
        model = PeftModel.from_pretrained(base, str(candidate.path), adapter_name=CANDIDATE)
        if against is not None:
            model.load_adapter(str(against.path), adapter_name=AGAINST)
    except (ValueError, RuntimeError, KeyError) as exc:
        raise SelftuneError(
            f"Cannot load adapter {candidate.path} on base '{base_model_of(candidate, settings)}': "
            f"{str(exc).splitlines()[0]}; check that it was trained on this base model."
        ) from None
    model.set_adapter(CANDIDATE)
    model.eval()
    return model, tokenizer


class use_variant:  # noqa: N801 - reads like a function at call sites: `with use_variant(model, "base"):`
    """Context manager running the model as 'candidate', 'against' (second adapter) or 'base' (adapter off)."""

    def __init__(self, model: Any, variant: str) -> None:
        self.model, self.variant = model, variant
        self._disabled: Any = None

    def __enter__(self) -> Any:
        if self.variant == "base":
            self._disabled = self.model.disable_adapter()
            self._disabled.__enter__()
        else:
            self.model.set_adapter(CANDIDATE if self.variant == "candidate" else AGAINST)
        return self.model

    def __exit__(self, *exc: Any) -> None:
        if self._disabled is not None:
            self._disabled.__exit__(*exc)
        self.model.set_adapter(CANDIDATE)
