"""Persona Ollama models take their chat format from the base GGUF: family templates, stops and num_ctx."""

from __future__ import annotations

import pytest

from skills.chat_templates import JINJA, OLLAMA, family_of, ollama_template, with_generation_markers
from skills.export.ollama import gguf_chat, modelfile, persona_modelfile_parts
from skills.models import smollm2_gguf_path
from skills.tiny_models import unmarked_template


def test_packaged_smollm2_gguf_gives_chatml_and_caps_num_ctx() -> None:
    jinja, context = gguf_chat(smollm2_gguf_path())
    assert "<|im_start|>" in jinja and context == 8192
    template, params = persona_modelfile_parts(smollm2_gguf_path(), num_ctx=100_000)
    assert template == OLLAMA["chatml"][0] and params["num_ctx"] == 8192 and "<|im_end|>" in params["stop"]
    assert persona_modelfile_parts(smollm2_gguf_path(), num_ctx=2048)[1]["num_ctx"] == 2048


@pytest.mark.parametrize("family", sorted(JINJA))
def test_each_family_is_recognised_and_gets_markers(family: str) -> None:
    hub_style = unmarked_template(family)
    assert family_of(hub_style) == family and ollama_template(hub_style) == OLLAMA[family]
    assert with_generation_markers(hub_style) == JINJA[family]
    assert with_generation_markers(JINJA[family]) == JINJA[family]


def test_unknown_template_is_left_to_ollama() -> None:
    assert ollama_template("{{ messages }}") is None and with_generation_markers("{{ messages }}") == "{{ messages }}"


def test_modelfile_carries_the_family_template(tmp_path) -> None:
    template, stops = OLLAMA["gemma"]
    text = modelfile(tmp_path / "b.gguf", tmp_path / "a.gguf", "Be a pirate.", {"stop": stops, "num_ctx": 4096},
                     template=template)
    assert '<start_of_turn>model\n"""' in text and 'PARAMETER stop "<end_of_turn>"' in text
    assert "PARAMETER num_ctx 4096" in text and 'SYSTEM """Be a pirate."""' in text
