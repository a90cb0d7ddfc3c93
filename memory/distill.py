"""Distil the packaged MiniLM into a model2vec static model: `python -m memory.distill TARGET`.

It runs in a process of its own (see `memory.embedders.distill_static`): torch is loaded only there, and an
assistant that exits while the one-time distillation is under way (the console's background warm-up) leaves
it to finish instead of aborting inside torch's C++ teardown.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from memory.embedders import STATIC_DIMS, model_path


def distill_into(target: Path) -> Path:
    """Write the static model to target atomically (readers never see a half-written folder)."""
    from model2vec.distill import distill

    # A local folder: transformers reads it from disk; nothing is fetched from a hub.
    model = distill(model_name=str(model_path()), pca_dims=STATIC_DIMS)
    partial = target.with_name(f"{target.name}.{os.getpid()}.part")
    model.save_pretrained(str(partial))
    os.replace(partial, target)
    return target


def main(argv: list[str]) -> int:
    """Distil into argv[0]; one sentence on stderr and exit code 2 when the distill extra is missing."""
    try:
        import model2vec.distill  # noqa: F401
    except ImportError as exc:
        print(f"Distilling the static embedding model needs torch and model2vec's distill extra ({exc}); "
              "install selftune[train], or set memory.embedder = \"onnx-int8\".", file=sys.stderr)
        return 2
    distill_into(Path(argv[0]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
