"""Merge a LoRA adapter into its base weights (PEFT merge_and_unload) and save a plain HF model folder."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from config.settings import Settings
from skills.train.lookup import AdapterRef, base_model_of


def merge_adapter(settings: Settings, ref: AdapterRef, out: Path) -> Path:
    """Write base+adapter as one HF model to `out` (built in a temp sibling, then renamed)."""
    from peft import PeftModel

    from skills.models import load_model

    base, tokenizer = load_model(base_model_of(ref, settings), settings.models_dir)
    merged = PeftModel.from_pretrained(base, str(ref.path)).merge_and_unload()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        merged.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out
