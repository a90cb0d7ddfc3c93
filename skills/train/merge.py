"""Merge a LoRA adapter into its base weights (merge_and_unload) for export: a plain HF model folder."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from config.errors import NotFound


def adapter_base_model(adapter_dir: Path) -> str:
    """The base model an adapter was trained on, from its manifest (or adapter_config.json)."""
    manifest = adapter_dir / "manifest.json"
    if manifest.is_file():
        return json.loads(manifest.read_text(encoding="utf-8"))["base_model"]
    config = adapter_dir / "adapter_config.json"
    if not config.is_file():
        raise NotFound(f"{adapter_dir} is not an adapter folder (no manifest.json or adapter_config.json).")
    return json.loads(config.read_text(encoding="utf-8"))["base_model_name_or_path"]


def merge_adapter(adapter_dir: Path, out_dir: Path, models_dir: Path) -> Path:
    """Write base + adapter merged into out_dir (atomically, float32), with the adapter's tokenizer."""
    from peft import PeftModel

    from skills.models import load_model

    base, _ = load_model(adapter_base_model(adapter_dir), models_dir)
    merged = PeftModel.from_pretrained(base, adapter_dir).merge_and_unload()
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(adapter_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        merged.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        tmp.rename(out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir
