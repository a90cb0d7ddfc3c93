"""The worker trains real adapters on the tiny model: loss goes down, outputs are complete and reload exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.train.conftest import dpo_rows, sft_rows, write_jsonl
from tests.train.helpers import make_spec, run_inprocess


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> tuple[Path, list[dict]]:
    tmp = tmp_path_factory.mktemp("lora")
    data = write_jsonl(tmp / "data.jsonl", sft_rows(48))
    rc, events = run_inprocess(make_spec(tmp, data, max_steps=12), tiny_model_dir.parent)
    assert rc == 0, events
    return Path(events[-1]["adapter_dir"]), events


def test_lora_lowers_held_out_loss_and_reports_progress(trained) -> None:
    adapter_dir, events = trained
    kinds = [e["event"] for e in events]
    assert kinds[0] == "message" and "backend trl on cpu" in events[0]["message"]
    assert kinds[1] == "start" and events[1]["max_steps"] == 12 and events[1]["resumed_from"] is None
    progress = [e for e in events if e["event"] == "progress"]
    assert progress[-1]["step"] == 12 and progress[-1]["tokens_per_s"] > 0 and "eta_s" in progress[-1]
    metrics = events[-1]["metrics"]
    assert kinds[-1] == "done" and metrics["steps"] == 12
    assert metrics["eval_loss"] < metrics["base_eval_loss"] - 0.1


def test_output_folder_is_complete(trained) -> None:
    adapter_dir, _ = trained
    names = {p.name for p in adapter_dir.iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "README.md",
            "manifest.json", "train_spec.json"} <= names
    manifest = json.loads((adapter_dir / "manifest.json").read_text())
    assert manifest["name"] == "test-lora" and manifest["version"] == "v1" and manifest["method"] == "lora"
    assert manifest["base_model"] == "tiny" and len(manifest["dataset_sha256"]) == 64
    assert set(manifest) >= {"recipe", "metrics", "parent", "created_at"}
    assert "base_model: tiny" in (adapter_dir / "README.md").read_text()
    siblings = [p.name for p in adapter_dir.parent.iterdir()]
    assert siblings == ["v1"], "no temp folder or checkpoints left behind"


def _logits(model, tokenizer) -> torch.Tensor:
    ids = tokenizer.apply_chat_template([{"role": "user", "content": "How are you?"}], add_generation_prompt=True,
                                        return_tensors="pt", return_dict=True)
    with torch.no_grad():
        return model(**ids).logits


def test_adapter_reloads_bit_identically(trained, tiny_model_dir: Path) -> None:
    from peft import PeftModel, get_peft_model_state_dict
    from safetensors.torch import load_file

    from skills.models import load_model

    adapter_dir, _ = trained
    saved = load_file(adapter_dir / "adapter_model.safetensors")
    runs = []
    for _ in range(2):
        base, tok = load_model("tiny", tiny_model_dir.parent)
        model = PeftModel.from_pretrained(base, adapter_dir).eval()
        state = get_peft_model_state_dict(model)
        assert state.keys() == saved.keys() and all(torch.equal(state[k], saved[k]) for k in saved)
        runs.append(_logits(model, tok))
    assert torch.equal(runs[0], runs[1])


def test_merged_weights_reproduce_adapter_logits(trained, settings, tiny_model_dir: Path, tmp_path: Path) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from skills.export.merge import merge_adapter
    from skills.models import load_model
    from skills.train.lookup import resolve_adapter

    adapter_dir, _ = trained
    merged_dir = merge_adapter(settings, resolve_adapter(adapter_dir, settings), tmp_path / "merged")
    base, tok = load_model("tiny", tiny_model_dir.parent)
    with_adapter = _logits(PeftModel.from_pretrained(base, adapter_dir).eval(), tok)
    merged = _logits(AutoModelForCausalLM.from_pretrained(merged_dir).eval(), tok)
    base_logits = _logits(load_model("tiny", tiny_model_dir.parent)[0], tok)
    assert (with_adapter - base_logits).abs().max() > 1e-3, "the adapter changes the model"
    assert torch.allclose(merged, with_adapter, atol=1e-4)


def test_dpo_lowers_preference_loss(tmp_path: Path, tiny_model_dir: Path) -> None:
    data = write_jsonl(tmp_path / "dpo.jsonl", dpo_rows(32))
    rc, events = run_inprocess(make_spec(tmp_path, data, method="dpo", max_steps=10, learning_rate=5e-3),
                               tiny_model_dir.parent)
    assert rc == 0, events
    metrics = events[-1]["metrics"]
    assert metrics["base_eval_loss"] == pytest.approx(0.6931, abs=1e-3)  # log 2: adapter starts as a no-op
    assert metrics["eval_loss"] < metrics["base_eval_loss"] - 0.05


def test_qlora_runs_end_to_end(tmp_path: Path, tiny_model_dir: Path) -> None:
    data = write_jsonl(tmp_path / "data.jsonl", sft_rows(24))
    rc, events = run_inprocess(make_spec(tmp_path, data, method="qlora", max_steps=4), tiny_model_dir.parent)
    assert rc == 0, events
    adapter_dir = Path(events[-1]["adapter_dir"])
    assert json.loads((adapter_dir / "manifest.json").read_text())["method"] == "qlora"
    assert json.loads((adapter_dir / "manifest.json").read_text())["runtime"]["quantization"] == "nf4 4-bit"
    assert (adapter_dir / "adapter_model.safetensors").is_file()
    assert events[-1]["metrics"]["eval_loss"] is not None


def test_full_fine_tuning_writes_a_model(tmp_path: Path, tiny_model_dir: Path) -> None:
    data = write_jsonl(tmp_path / "data.jsonl", sft_rows(24))
    rc, events = run_inprocess(make_spec(tmp_path, data, method="full", max_steps=3, learning_rate=1e-3),
                               tiny_model_dir.parent)
    assert rc == 0, events
    adapter_dir = Path(events[-1]["adapter_dir"])
    assert (adapter_dir / "model.safetensors").is_file() and (adapter_dir / "config.json").is_file()


def test_manifest_records_what_trained_it_and_adapters_show_displays_it(trained, settings) -> None:
    import shutil

    from typer.testing import CliRunner

    from agent.cli.main import app

    adapter_dir, _ = trained
    ran = json.loads((adapter_dir / "manifest.json").read_text())["runtime"]
    from skills.train.preflight import bf16_native

    # a LoRA's frozen base runs in bf16 where this CPU computes it natively (pre-flight's default), else fp32
    dtype = "bfloat16" if bf16_native("cpu") else "float32"
    assert ran["backend"] == "trl+peft" and ran["device"] == "cpu" and ran["dtype"] == dtype
    assert ran["quantization"] is None
    shutil.copytree(adapter_dir, settings.artifacts_dir / "adapters" / "test-lora" / "v1")
    shown = CliRunner().invoke(app, ["adapters", "show", "test-lora/v1", "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["runtime"]["backend"] == "trl+peft"
    human = CliRunner().invoke(app, ["adapters", "show", "test-lora"])
    assert human.exit_code == 0 and f"trl+peft on cpu, {dtype}" in human.stdout


def test_rows_whose_answers_start_past_max_length_fail_in_one_sentence(tmp_path: Path, tiny_model_dir: Path) -> None:
    """A long persona prompt in a small max_length leaves no answer token to learn: a clear sentence, not an
    IndexError from deep inside transformers."""
    from skills.train.spec import TrainSpec

    data = write_jsonl(tmp_path / "data.jsonl", sft_rows(24))
    spec_path = make_spec(tmp_path, data, max_steps=2, max_length=16)
    spec = TrainSpec.model_validate_json(spec_path.read_text())
    spec.model_copy(update={"persona": "pirate", "system_prompt": "You are a pirate. " * 20}).save(spec_path)
    rc, events = run_inprocess(spec_path, tiny_model_dir.parent)
    assert rc != 0 and events[-1]["event"] == "error", events
    assert "has its answer within max_length (16 tokens)" in events[-1]["message"], events[-1]
