"""Build (or reuse) the tiny ChatML test model: python scripts/make_tiny_model.py [MODELS_DIR]."""

import sys
from pathlib import Path

from skills.models import resolve_base_model

if __name__ == "__main__":
    models_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(".cache/models")
    print(resolve_base_model("tiny", models_dir))
