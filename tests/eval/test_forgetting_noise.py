"""The forgetting check flags real losses of general ability, not a couple of flipped items."""

from skills.evaluate.forgetting import compare


def result(correct: list[bool], loss: float = 3.0) -> dict:
    return {"accuracy": sum(correct) / len(correct), "loss": loss, "correct": correct}


def test_two_flips_out_of_32_are_noise() -> None:
    base = result([True] * 13 + [False] * 19)
    adapter = result([True] * 11 + [False] * 21)  # -15% relative, but only 2 items
    verdict = compare(base, adapter)
    assert verdict["accuracy_drop"] > 0.10 and not verdict["flagged"]


def test_a_real_loss_is_flagged() -> None:
    base = result([True] * 16 + [False] * 16)
    adapter = result([True] * 4 + [False] * 28)
    assert compare(base, adapter)["flagged"]


def test_loss_rise_alone_is_flagged() -> None:
    correct = [True] * 16 + [False] * 16
    assert compare(result(correct, 3.0), result(correct, 3.5))["flagged"]
