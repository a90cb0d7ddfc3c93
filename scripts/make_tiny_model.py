"""Build (or reuse) a tiny test model: python scripts/make_tiny_model.py [MODELS_DIR] [--arch ARCH].

Without --arch: the tiny ChatML Llama ("tiny"). With --arch (llama, qwen2, mistral, gemma3, phi3): a tiny
random model of that architecture in MODELS_DIR/tiny-ARCH, usable as base_model = "<that folder>".
"""

import argparse
from pathlib import Path

from skills.models import _atomic_build, resolve_base_model
from skills.tiny_models import ARCHS, build_tiny_arch

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models_dir", nargs="?", type=Path, default=Path(".cache/models"))
    parser.add_argument("--arch", choices=sorted(ARCHS))
    args = parser.parse_args()
    if args.arch is None:
        print(resolve_base_model("tiny", args.models_dir))
    else:
        print(_atomic_build(args.models_dir / f"tiny-{args.arch}", lambda out: build_tiny_arch(args.arch, out)))
