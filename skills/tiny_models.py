"""Tiny random models of each supported architecture, built offline (config -> random weights -> folder).

Each gets a small BPE tokenizer with its family's special tokens and a chat template in the family's
format *without* `{% generation %}` markers, as Hub models ship them, so resolving it exercises the
marker step. Used by tests and `scripts/make_tiny_model.py --arch ARCH`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from skills.chat_templates import JINJA

# arch -> (chat-template family, special tokens, bos, eos, pad)
ARCHS: dict[str, tuple[str, list[str], str | None, str, str]] = {
    "llama": ("llama3", ["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>",
                         "<|finetune_right_pad_id|>"], "<|begin_of_text|>", "<|eot_id|>", "<|finetune_right_pad_id|>"),
    "qwen2": ("chatml", ["<|endoftext|>", "<|im_start|>", "<|im_end|>"], None, "<|im_end|>", "<|endoftext|>"),
    "mistral": ("mistral", ["<unk>", "<s>", "</s>", "[INST]", "[/INST]"], "<s>", "</s>", "<unk>"),
    "gemma3": ("gemma", ["<pad>", "<bos>", "<eos>", "<start_of_turn>", "<end_of_turn>"], "<bos>", "<end_of_turn>",
               "<pad>"),
    "phi3": ("phi3", ["<|endoftext|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"], None, "<|end|>",
             "<|endoftext|>"),
}
CORPUS = [
    "system user assistant model tool You are a helpful assistant. Arr matey, ye pirate! ",
    "The quick brown fox jumps over the lazy dog. 0123456789 What is the capital of France? Paris. ",
    "Hello, how are you? I am fine, thank you. Please answer in JSON: {\"answer\": 42}",
] * 20


def unmarked_template(family: str) -> str:
    """The family's chat template as Hub models ship it: no generation markers."""
    return JINJA[family].replace("{% generation %}", "").replace("{% endgeneration %}", "")


def _tokenizer(arch: str) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    family, specials, bos, eos, pad = ARCHS[arch]
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=512, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=bos, eos_token=eos, pad_token=pad, unk_token=None,
                                   chat_template=unmarked_template(family))


def _config(arch: str, tokenizer: Any) -> Any:
    """A 2-layer, 64-wide config of the architecture (~100k parameters plus embeddings)."""
    import transformers

    common = dict(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                  eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                  bos_token_id=tokenizer.bos_token_id, tie_word_embeddings=True)
    if arch == "gemma3":
        return transformers.Gemma3TextConfig(**common, head_dim=16, query_pre_attn_scalar=16, sliding_window=64)
    if arch == "phi3":
        return transformers.Phi3Config(**common)
    if arch == "mistral":
        return transformers.MistralConfig(**common, sliding_window=None)
    if arch == "qwen2":
        return transformers.Qwen2Config(**common)
    return transformers.LlamaConfig(**common)


def build_tiny_arch(arch: str, out: Path, seed: int = 0) -> None:
    """Write a tiny random model of `arch` (llama, qwen2, mistral, gemma3, phi3) + tokenizer to `out`."""
    import torch
    from transformers import AutoModelForCausalLM

    if arch not in ARCHS:
        raise ValueError(f"unknown tiny architecture {arch!r}; choose from {', '.join(ARCHS)}")
    tokenizer = _tokenizer(arch)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(_config(arch, tokenizer))
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
