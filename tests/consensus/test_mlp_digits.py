"""MLP on digits, 8 agents on a ring, label-skewed: NEXT and gradient tracking match the all-reduce baseline."""

from __future__ import annotations

import pytest

import consensus

ROUNDS = 600  # the same batch (32 per agent) every round: equal gradient evaluations for all three

SETTINGS = {
    "centralized": {"lr": 0.3},
    "gradient_tracking": {"lr": 0.3},
    "next": {"tau": 3.0, "alpha0": 1.0},
}


@pytest.fixture(scope="module")
def accuracies() -> dict[str, dict[str, float]]:
    out = {}
    for name, options in SETTINGS.items():
        result = consensus.train(
            "ring", name, agents=8, dataset="digits", model="mlp", partition="label", rounds=ROUNDS,
            batch_size=32, eval_every=ROUNDS, seed=0, **options,
        )  # fmt: skip
        out[name] = result.final
    print("\nalgorithm          test acc  train acc  loss     grad evals/agent")
    for name, final in out.items():
        print(
            f"{name:18s} {final['test_accuracy']:.4f}    {final['train_accuracy']:.4f}     {final['loss']:.4f}   {final['grad_evals_per_agent']:.0f}"
        )
    return out


@pytest.mark.slow
@pytest.mark.parametrize("name", ["next", "gradient_tracking"])
def test_within_two_points_of_centralized(
    accuracies: dict[str, dict[str, float]], name: str
) -> None:
    ours, ref = accuracies[name], accuracies["centralized"]
    assert ours["grad_evals_per_agent"] == ref["grad_evals_per_agent"]
    assert ours["test_accuracy"] >= ref["test_accuracy"] - 0.02, (
        ours["test_accuracy"],
        ref["test_accuracy"],
    )
