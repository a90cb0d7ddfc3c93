"""Chat-template families: the Jinja template a base trains with (with `{% generation %}` markers, so TRL can
mask the loss to assistant tokens) and the Go template + stop words Ollama serves it with.

A family is recognised by the special tokens its template uses; Hub templates rarely carry generation
markers, so a base whose template lacks them gets its family's canonical template instead.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

GEN = "{% generation %}"

# Jinja (transformers) templates, one per family, each marking the assistant's tokens.
JINJA: dict[str, str] = {
    "chatml": (
        "{% for message in messages %}"
        "{% if message['role'] == 'assistant' %}"
        "{{ '<|im_start|>assistant\n' }}{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}"
        "{{ '\n' }}"
        "{% else %}"
        "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
        "{% endif %}"
        "{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
    ),
    "llama3": (
        "{{ bos_token }}{% for message in messages %}"
        "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' }}"
        "{% if message['role'] == 'assistant' %}"
        "{% generation %}{{ message['content'] | trim + '<|eot_id|>' }}{% endgeneration %}"
        "{% else %}{{ message['content'] | trim + '<|eot_id|>' }}{% endif %}"
        "{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
    ),
    # Gemma has no system role: the system text opens the first user turn, as Gemma's own template does.
    "gemma": (
        "{{ bos_token }}{% set ns = namespace(system='') %}{% for message in messages %}"
        "{% if message['role'] == 'system' %}{% set ns.system = message['content'] + '\n\n' %}"
        "{% elif message['role'] == 'assistant' %}"
        "{{ '<start_of_turn>model\n' }}{% generation %}{{ message['content'] | trim + '<end_of_turn>' }}"
        "{% endgeneration %}{{ '\n' }}"
        "{% else %}{{ '<start_of_turn>user\n' + ns.system + message['content'] | trim + '<end_of_turn>\n' }}"
        "{% set ns.system = '' %}{% endif %}"
        "{% endfor %}"
        "{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}"
    ),
    "mistral": (
        "{{ bos_token }}{% set ns = namespace(system='') %}{% for message in messages %}"
        "{% if message['role'] == 'system' %}{% set ns.system = message['content'] + '\n\n' %}"
        "{% elif message['role'] == 'assistant' %}"
        "{% generation %}{{ ' ' + message['content'] | trim + eos_token }}{% endgeneration %}"
        "{% else %}{{ '[INST] ' + ns.system + message['content'] | trim + ' [/INST]' }}"
        "{% set ns.system = '' %}{% endif %}"
        "{% endfor %}"
    ),
    "phi3": (
        "{% for message in messages %}"
        "{% if message['role'] == 'assistant' %}"
        "{{ '<|assistant|>\n' }}{% generation %}{{ message['content'] + '<|end|>' }}{% endgeneration %}{{ '\n' }}"
        "{% else %}{{ '<|' + message['role'] + '|>\n' + message['content'] + '<|end|>\n' }}{% endif %}"
        "{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
    ),
}

# Ollama (Go text/template) equivalents and the stop words that end an answer.
OLLAMA: dict[str, tuple[str, list[str]]] = {
    "chatml": ("{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}"
               "<|im_start|>assistant\n", ["<|im_end|>", "<|im_start|>"]),
    "llama3": ("{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n{{ .Content }}<|eot_id|>"
               "{{ end }}<|start_header_id|>assistant<|end_header_id|>\n\n", ["<|eot_id|>", "<|start_header_id|>"]),
    "gemma": ("{{- range .Messages }}<start_of_turn>{{ if eq .Role \"assistant\" }}model{{ else }}user{{ end }}\n"
              "{{ .Content }}<end_of_turn>\n{{ end }}<start_of_turn>model\n", ["<end_of_turn>", "<start_of_turn>"]),
    "mistral": ("{{- range .Messages }}{{ if eq .Role \"assistant\" }} {{ .Content }}</s>"
                "{{ else }}[INST] {{ .Content }} [/INST]{{ end }}{{ end }}", ["[INST]", "</s>"]),
    "phi3": ("{{- range .Messages }}<|{{ .Role }}|>\n{{ .Content }}<|end|>\n{{ end }}<|assistant|>\n",
             ["<|end|>", "<|user|>", "<|assistant|>"]),
}

# The special token that identifies each family, checked in this order (phi3's <|end|> is last: generic).
_MARKERS = [("chatml", "<|im_start|>"), ("llama3", "<|start_header_id|>"), ("gemma", "<start_of_turn>"),
            ("mistral", "[INST]"), ("phi3", "<|assistant|>")]


def family_of(template: str | None) -> str | None:
    """The family a chat template belongs to ('chatml', 'llama3', 'gemma', 'mistral', 'phi3'), or None."""
    for family, marker in _MARKERS:
        if template and marker in template:
            return family
    return None


def with_generation_markers(template: str | None) -> str | None:
    """The template itself when it marks assistant tokens, else its family's marked template (None if unknown)."""
    if template and GEN in template:
        return template
    family = family_of(template)
    if family is None:
        log.warning("chat template of an unknown family; assistant-only loss needs {%% generation %%} markers")
        return template
    return JINJA[family]


def ollama_template(template: str | None) -> tuple[str, list[str]] | None:
    """(Go template, stop words) for a GGUF's Jinja chat template, or None to let Ollama detect it."""
    family = family_of(template)
    return OLLAMA[family] if family else None
