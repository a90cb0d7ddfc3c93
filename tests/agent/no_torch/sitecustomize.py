"""Imported by every Python process whose PYTHONPATH starts with this folder: the model-weight packages are not
installed, as on a bot host installed with the `bot` extra. Import finds no such module (ModuleNotFoundError) and
importlib.util.find_spec answers None, exactly as when the distributions are absent."""

import sys
from importlib.machinery import PathFinder

ABSENT = frozenset({"torch", "transformers", "peft", "trl", "bitsandbytes", "accelerate", "sentence_transformers",
                    "unsloth", "torchvision", "torchaudio"})


class _NotInstalled(PathFinder):
    """The path finder, minus the packages a bot host does not have."""

    @classmethod
    def find_spec(cls, fullname, path=None, target=None):  # noqa: ANN001, ANN206 - importlib's protocol
        if fullname.partition(".")[0] in ABSENT:
            return None
        return super().find_spec(fullname, path, target)


sys.meta_path[:] = [_NotInstalled if finder is PathFinder else finder for finder in sys.meta_path]
