"""The lean assistant-only loss equals the model's own cross-entropy, value and gradient, on the tiny model."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from skills.train.loss import IGNORE, assistant_loss, chunked_nll_sum, decoder_parts, pack_padded_rows


@pytest.fixture
def model_and_batch(tiny_model_dir: Path) -> tuple:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM"))
    vocab = base.config.vocab_size
    input_ids = torch.randint(0, vocab, (3, 17))
    attention_mask = torch.ones_like(input_ids)
    attention_mask[2, 12:] = 0  # a padded row
    labels = input_ids.clone()
    labels[:, :6] = IGNORE  # the prompt
    labels[attention_mask == 0] = IGNORE
    return model, {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}


def lora_grads(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad and p.grad is not None}


def test_loss_and_gradient_equal_the_models_own_cross_entropy(model_and_batch: tuple) -> None:
    model, batch = model_and_batch
    expected = model(**batch).loss
    expected.backward()
    want = lora_grads(model)
    model.zero_grad()
    got = assistant_loss(model, batch)
    got.backward()
    have = lora_grads(model)
    assert abs(got.item() - expected.item()) < 1e-5
    assert want.keys() == have.keys() and len(want) > 0
    for name in want:
        torch.testing.assert_close(have[name], want[name], atol=1e-5, rtol=1e-4, msg=name)


def test_tiles_smaller_than_the_vocabulary_give_the_same_sum_and_gradient() -> None:
    torch.manual_seed(1)
    hidden = torch.randn(9, 16, requires_grad=True)
    weight = torch.randn(50, 16)
    targets = torch.randint(0, 50, (9,))
    plain = torch.nn.functional.cross_entropy(hidden @ weight.T, targets, reduction="sum")
    (want,) = torch.autograd.grad(plain, hidden)
    tiled = chunked_nll_sum(hidden, weight, None, targets, vocab_tile=7)
    (have,) = torch.autograd.grad(tiled, hidden)
    assert abs(tiled.item() - plain.item()) < 1e-4
    torch.testing.assert_close(have, want, atol=1e-5, rtol=1e-4)


def test_a_batch_without_assistant_tokens_is_a_differentiable_zero(model_and_batch: tuple) -> None:
    model, batch = model_and_batch
    batch["labels"][:] = IGNORE
    loss = assistant_loss(model, batch)
    loss.backward()
    assert loss.item() == 0.0 and decoder_parts(model) is not None


def test_trls_fused_head_scores_only_labelled_positions_on_cpu_with_the_same_log_probs(
        model_and_batch: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    import trl.kernels.chunked_logprob as kernels
    import trl.trainer.utils as trl_utils
    from trl.trainer.utils import add_fused_lm_head

    from skills.train.loss import score_labelled_positions_only

    model, batch = model_and_batch
    add_fused_lm_head(model.get_base_model(), outputs=("log_probs", "entropy"))  # as DPOTrainer/KTOTrainer do
    monkeypatch.setattr(trl_utils, "_use_triton", kernels._use_triton)  # TRL's own choice, whatever ran before
    scored: list[int] = []
    apply = trl_utils._ChunkedLogProbFunction.apply

    def counting(hidden: torch.Tensor, *args: object) -> tuple:
        scored.append(hidden.shape[0])
        return apply(hidden, *args)

    monkeypatch.setattr(trl_utils._ChunkedLogProbFunction, "apply", counting)
    with torch.no_grad():
        full = model(**batch, fused_lm_head=True)
        assert score_labelled_positions_only() and score_labelled_positions_only()  # applied once, idempotent
        compact = model(**batch, fused_lm_head=True)
    labelled = int((batch["labels"][:, 1:] != IGNORE).sum())
    assert scored == [3 * 16, labelled]  # every position before, only the labelled ones after
    torch.testing.assert_close(compact.log_probs, full.log_probs)
    torch.testing.assert_close(compact.entropy, full.entropy)


def test_packed_rows_give_the_padded_forwards_outputs_and_gradients(model_and_batch: tuple) -> None:
    """pack_padded_rows drops the padding's work only: per-token outputs and LoRA gradients stay TRL's."""
    from trl.trainer.utils import add_fused_lm_head

    model, batch = model_and_batch
    batch["attention_mask"][0, 15:] = 0  # rows of three lengths, right-padded as TRL's collators do
    batch["labels"][batch["attention_mask"] == 0] = IGNORE
    add_fused_lm_head(model.get_base_model(), outputs=("log_probs", "entropy", "mean_logits"))

    def run() -> tuple:
        model.zero_grad()
        out = model(**batch, fused_lm_head=True)
        (out.log_probs.sum(-1) ** 2).sum().backward()  # a per-row function of the row sums, as KTO's loss is
        return out, lora_grads(model)

    want, want_grads = run()
    assert pack_padded_rows(model.get_base_model())
    have, have_grads = run()
    for name in ("log_probs", "entropy", "mean_logits", "label_mask"):
        assert getattr(have, name).shape == getattr(want, name).shape == (3, 16), name
        torch.testing.assert_close(getattr(have, name), getattr(want, name), atol=1e-5, rtol=1e-4, msg=name)
    assert want_grads.keys() == have_grads.keys() and len(want_grads) > 0
    for name in want_grads:
        torch.testing.assert_close(have_grads[name], want_grads[name], atol=1e-5, rtol=1e-4, msg=name)
