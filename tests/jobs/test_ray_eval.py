"""The GPU box does the heavy work: an eval job runs on the Ray node's `trainer` resource, which resolves the
base by a Hub id only its own cache holds; the bot host (another state dir) gets the report back (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from skills.jobs import JobManager
from skills.jobs.heavy import submit_eval, submit_export
from tests.jobs.two_machine_setup import BOX_HUB_ID
from tests.models.conftest import tiny_arch

pytestmark = pytest.mark.slow


def _adapter_on_hub_base(folder: Path, base_model: str = BOX_HUB_ID) -> Path:
    """A random non-zero LoRA on the tiny Qwen2 model whose manifest names its base by Hub id only."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_arch("qwen2")),
                           LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    model.save_pretrained(folder)
    (folder / "manifest.json").write_text(json.dumps({"name": "pirate-box", "version": "v1", "base_model": base_model,
                                                      "method": "lora"}))
    return folder


def test_eval_runs_as_a_job_on_the_trainer_resource_and_the_worker_resolves_the_base(ray_settings, tmp_path):
    from ray.job_submission import JobSubmissionClient

    from skills.models import resolve_base_model

    with pytest.raises(Exception, match="not in the local Hugging Face cache"):
        resolve_base_model(BOX_HUB_ID, ray_settings.models_dir)  # the bot host cannot load this base itself
    adapter = _adapter_on_hub_base(tmp_path / "pirate-box")
    data = tmp_path / "eval.jsonl"
    data.write_text("".join(json.dumps({"messages": [{"role": "user", "content": f"Say hi {i}"},
                                                     {"role": "assistant", "content": "Arr, hi matey!"}]}) + "\n"
                            for i in range(4)))
    job_id = submit_eval(ray_settings, adapter, executor="ray", data=data, limit=4)
    mgr = JobManager(ray_settings)
    try:
        job = mgr.wait(job_id, 240)
        assert job.state == "succeeded", (job.error, mgr.log_text(job_id))
        info = JobSubmissionClient(ray_settings.executor.ray_address).get_job_info(job.ray_job_id)
    finally:
        mgr.close()
    # it ran as a Ray job that asked for the trainer resource (what executor passes as entrypoint_resources)
    assert job.resources == {"trainer": 1} and info.metadata["selftune_job"] == job_id
    assert "skills.jobs.heavy_worker" in info.entrypoint and str(info.status.value) == "SUCCEEDED"
    report = Path(job.adapter)
    assert report.parent == ray_settings.artifacts_dir / "reports"  # fetched back into the bot host's state dir
    doc = json.loads((report / "eval.json").read_text())
    assert doc["node"]["base_model"] == BOX_HUB_ID and doc["items"] == 4 and doc["heldout"]
    assert (report / "manifest.json").is_file()


def test_export_runs_as_a_job_and_only_the_gguf_comes_back(ray_settings, tmp_path, monkeypatch):
    """The base is named "house-base" here; executor.worker_base_models says where that folder is on the box."""
    from skills.export.gguf import converter_missing

    if converter_missing():
        pytest.skip(converter_missing())
    box_folder = str(tiny_arch("qwen2"))
    monkeypatch.setenv("SELFTUNE_EXECUTOR__WORKER_BASE_MODELS", json.dumps({"house-base": box_folder}))
    adapter = _adapter_on_hub_base(tmp_path / "pirate-box", base_model="house-base")
    job_id = submit_export(ray_settings, adapter, "gguf", quant="q8_0", executor="ray")
    mgr = JobManager(ray_settings)
    try:
        job = mgr.wait(job_id, 240)
        assert job.state == "succeeded", (job.error, mgr.log_text(job_id))
    finally:
        mgr.close()
    folder = Path(job.adapter)
    assert folder.parent == ray_settings.artifacts_dir / "exports" and job.resources == {"trainer": 1}
    ggufs = list(folder.glob("*.gguf"))
    assert [p.name for p in ggufs] == ["pirate-box-q8_0.gguf"] and ggufs[0].read_bytes()[:4] == b"GGUF"
    assert not (folder / "merged").exists()  # merged on the box, not shipped
    assert json.loads((folder / "manifest.json").read_text())["node"]["base_model"] == box_folder
    assert json.loads((adapter / "manifest.json").read_text())["base_model"] == "house-base"  # local copy untouched


def test_cli_eval_with_the_ray_executor_runs_as_a_job_and_prints_the_fetched_report(ray_settings, tmp_path,
                                                                                   monkeypatch):
    """`selftune eval` (executor.kind = "ray") is what a user types: the job runs on the box, the report lands here."""
    from typer.testing import CliRunner

    from agent.cli.main import app

    monkeypatch.setenv("SELFTUNE_EXECUTOR__KIND", "ray")
    adapter = _adapter_on_hub_base(tmp_path / "pirate-box")
    data = tmp_path / "eval.jsonl"
    data.write_text("".join(json.dumps({"messages": [{"role": "user", "content": f"Say hi {i}"},
                                                     {"role": "assistant", "content": "Arr, hi matey!"}]}) + "\n"
                            for i in range(3)))
    result = CliRunner().invoke(app, ["eval", str(adapter), "--data", str(data), "--limit", "3", "--no-judge", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["node"]["base_model"] == BOX_HUB_ID and doc["items"] == 3 and doc["heldout"]
    report = Path(doc["report"]["markdown"])
    assert report.parent.parent == ray_settings.artifacts_dir / "reports" and report.is_file()
    mgr = JobManager(ray_settings)
    try:
        [job] = [j for j in mgr.store.list() if j.spec.get("kind") == "eval" and str(report.parent) == j.adapter]
    finally:
        mgr.close()
    assert job.executor == "ray" and job.resources == {"trainer": 1} and job.ray_job_id


def test_eval_against_another_adapter_with_a_persona_runs_on_the_box_from_the_cli_and_the_skill(
        ray_settings, tmp_path, monkeypatch):
    """`eval --against --persona` and the eval.run skill (Discord /eval, chat) no longer need this machine:
    the compared adapter and the persona card travel with the job."""
    from typer.testing import CliRunner

    from agent.cli.main import app
    from config.workspace import open_workspace

    monkeypatch.setenv("SELFTUNE_EXECUTOR__KIND", "ray")
    open_workspace(ray_settings)  # the default personas, pirate among them
    adapter, other = _adapter_on_hub_base(tmp_path / "pirate-box"), _adapter_on_hub_base(tmp_path / "other-box")
    manifest = json.loads((other / "manifest.json").read_text())
    (other / "manifest.json").write_text(json.dumps({**manifest, "name": "other-box"}))
    data = tmp_path / "eval.jsonl"
    data.write_text("".join(json.dumps({"messages": [{"role": "user", "content": f"Say hi {i}"},
                                                     {"role": "assistant", "content": "Arr, hi matey!"}]}) + "\n"
                            for i in range(2)))
    result = CliRunner().invoke(app, ["eval", str(adapter), "--against", str(other), "--persona", "pirate",
                                      "--data", str(data), "--limit", "2", "--no-judge", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["against"] == "other-box/v1" and doc["persona"] == "pirate" and doc["node"]["base_model"] == BOX_HUB_ID
    unknown = CliRunner().invoke(app, ["eval", str(adapter), "--persona", "nobody", "--data", str(data), "--json"])
    assert unknown.exit_code != 0 and "There is no persona 'nobody'" in json.loads(unknown.stdout)["error"]

    args = {"adapter": str(adapter), "against": str(other), "data": str(data), "limit": 2, "judge": False}
    skill = CliRunner().invoke(app, ["skills", "call", "eval.run", "--args", json.dumps(args), "--json"])
    assert skill.exit_code == 0, skill.output
    assert json.loads(skill.stdout)["against"] == "other-box/v1"
    mgr = JobManager(ray_settings)
    try:
        jobs = [j for j in mgr.store.list() if j.spec.get("kind") == "eval"]
    finally:
        mgr.close()
    assert len(jobs) == 2 and all(j.executor == "ray" and j.state == "succeeded" for j in jobs)
    assert {j.requester for j in jobs} >= {"eval"} and all(j.spec["against_adapter"] == str(other) for j in jobs)
    assert any(j.spec.get("persona_card", {}).get("name") == "pirate" for j in jobs)


def test_cli_export_with_the_ray_executor_brings_back_the_gguf(ray_settings, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from agent.cli.main import app
    from skills.export.gguf import converter_missing

    if converter_missing():
        pytest.skip(converter_missing())
    monkeypatch.setenv("SELFTUNE_EXECUTOR__KIND", "ray")
    monkeypatch.setenv("SELFTUNE_EXECUTOR__WORKER_BASE_MODELS", json.dumps({"house-base": str(tiny_arch("qwen2"))}))
    adapter = _adapter_on_hub_base(tmp_path / "pirate-box", base_model="house-base")
    out = tmp_path / "mine"
    result = CliRunner().invoke(app, ["export", str(adapter), "--to", "gguf", "--quant", "q8_0", "--out", str(out),
                                      "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["path"] == str(out / "pirate-box-q8_0.gguf") and Path(doc["path"]).read_bytes()[:4] == b"GGUF"
    assert doc["quant"] == "q8_0" and doc["job_id"]
    no_pulled = CliRunner().invoke(app, ["export", str(adapter), "--to", "ollama", "--json"])
    assert no_pulled.exit_code != 0 and "ollama.base_model" in json.loads(no_pulled.stdout)["error"]


def test_export_to_ollama_with_the_ray_executor_makes_the_lora_on_the_box_and_the_model_from_the_pulled_one(
        ray_settings, tmp_path, monkeypatch):
    """`export --to ollama` and the export.run skill (Discord /export): the LoRA GGUF is written on the GPU box,
    only it comes back, and the Ollama model is FROM the model the user pulled + ADAPTER, no TEMPLATE."""
    from typer.testing import CliRunner

    from agent.cli.main import app
    from skills.export.gguf import converter_missing, parameter_count
    from tests.eval.fake_ollama import FakeOllama

    if converter_missing():
        pytest.skip(converter_missing())
    box = tiny_arch("qwen2")
    monkeypatch.setenv("SELFTUNE_EXECUTOR__KIND", "ray")
    monkeypatch.setenv("SELFTUNE_EXECUTOR__WORKER_BASE_MODELS", json.dumps({"house-base": str(box)}))
    adapter = _adapter_on_hub_base(tmp_path / "pirate-box", base_model="house-base")
    with FakeOllama() as server:
        server.pull("tiny-qwen:1m", "qwen2", "1M", parameter_count=parameter_count(box))
        monkeypatch.setenv("SELFTUNE_OLLAMA__HOST", server.host)
        monkeypatch.setenv("SELFTUNE_OLLAMA__BASE_MODEL", "tiny-qwen:1m")
        result = CliRunner().invoke(app, ["export", str(adapter), "--to", "ollama", "--name", "pirate-cli", "--json"])
        assert result.exit_code == 0, result.output
        args = {"adapter": str(adapter), "to": "ollama", "name": "pirate-skill"}
        skill = CliRunner().invoke(app, ["skills", "call", "export.run", "--args", json.dumps(args), "--json"])
        assert skill.exit_code == 0, skill.output
    doc = json.loads(result.stdout)
    assert doc["from"] == "tiny-qwen:1m" and Path(doc["path"]).suffix == ".gguf"
    assert "TEMPLATE" not in Path(doc["modelfile"]).read_text() and "FROM tiny-qwen:1m" in Path(doc["modelfile"]).read_text()
    for model in ("pirate-cli", "pirate-skill"):
        created = server.models[f"{model}:latest"] if f"{model}:latest" in server.models else server.models[model]
        assert created["from"] == "tiny-qwen:1m" and "template" not in created and len(created["adapters"]) == 1
    mgr = JobManager(ray_settings)
    try:
        exports = [j for j in mgr.store.list() if j.spec.get("kind") == "export"]
    finally:
        mgr.close()
    assert len(exports) == 2 and all(j.executor == "ray" and j.spec["lora_only"] for j in exports)
    assert all([p.name for p in Path(j.adapter).glob("*.gguf")] == ["pirate-box.gguf"] for j in exports)  # no base
