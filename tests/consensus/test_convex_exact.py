"""Exactness on strongly convex problems: the decentralized result is the pooled optimum (scipy)."""

from __future__ import annotations

import numpy as np
import pytest

import consensus

from .conftest import ConvexProblem

TOPOLOGIES = ["ring", "torus", "random_matching", "link_failure:base=torus,q=0.3"]

# Step sizes on F's scale (gradients are of n * f_i, see consensus.objective).
EXACT = {
    "next": {"tau": 2.0, "alpha0": 1.0},
    "gradient_tracking": {"lr": 0.4},
    "extra": {"lr": 0.4},
    "nids": {"lr": 0.4},
    "push_sum": {"lr": 0.4},
    "centralized": {"lr": 0.4},
}


def relative_error(
    problem: ConvexProblem, topology: str, algorithm: str, rounds: int, **options: float
) -> float:
    result = consensus.train(
        topology,
        algorithm,
        agents=8,
        dataset=problem.data,
        model=problem.model,
        partition="label",
        rounds=rounds,
        batch_size=0,
        reg=f"l2:{problem.lam}",
        dtype="float64",
        eval_every=rounds,
        seed=3,
        **options,
    )
    x = result.X.mean(0).numpy()
    assert result.final["consensus_error"] < 1e-20
    return float(np.linalg.norm(x - problem.optimum) / np.linalg.norm(problem.optimum))


@pytest.mark.slow
@pytest.mark.parametrize("topology", TOPOLOGIES)
@pytest.mark.parametrize("algorithm", sorted(EXACT))
def test_logistic_reaches_pooled_optimum(
    logistic_problem: ConvexProblem, topology: str, algorithm: str
) -> None:
    err = relative_error(logistic_problem, topology, algorithm, 1200, **EXACT[algorithm])
    assert err <= 1e-6, f"{algorithm} on {topology}: relative error {err:.2e}"


@pytest.mark.slow
@pytest.mark.parametrize("topology", TOPOLOGIES)
@pytest.mark.parametrize("algorithm", sorted(EXACT))
def test_ridge_reaches_pooled_optimum(
    ridge_problem: ConvexProblem, topology: str, algorithm: str
) -> None:
    # Squared loss on diabetes has curvature about 8: steps are smaller than for logistic regression,
    # and EXTRA's bound 2 lambda_min(W~) / L is the tightest.
    options = RIDGE[algorithm]
    err = relative_error(ridge_problem, topology, algorithm, 1200, **options)
    assert err <= 1e-6, f"{algorithm} on {topology}: relative error {err:.2e}"


RIDGE = {
    "next": {"tau": 10.0, "alpha0": 1.0},
    "gradient_tracking": {"lr": 0.1},
    "extra": {"lr": 0.04},
    "nids": {"lr": 0.1},
    "push_sum": {"lr": 0.1},
    "centralized": {"lr": 0.1},
}


def test_next_partial_linearization_is_exact_on_a_linear_model(
    logistic_problem: ConvexProblem,
) -> None:
    # For a linear model the partially linearized surrogate is the local loss itself.
    err = relative_error(
        logistic_problem,
        "ring",
        "next",
        300,
        tau=1.0,
        alpha0=1.0,
        surrogate="partial",
        inner_steps=20,
    )
    assert err <= 1e-6


def test_dgd_with_constant_step_is_biased_and_the_bias_shrinks_with_the_step(
    logistic_problem: ConvexProblem,
) -> None:
    big = relative_error_dgd(logistic_problem, 0.4)
    small = relative_error_dgd(logistic_problem, 0.1)
    assert big > 1e-2, "DGD should not reach the optimum with a constant step"
    assert small < big / 2.5, f"bias should scale with the step: {big:.3e} -> {small:.3e}"


def relative_error_dgd(problem: ConvexProblem, lr: float) -> float:
    result = consensus.train(
        "ring", "dgd", agents=8, dataset=problem.data, model=problem.model, partition="label",
        rounds=3000, batch_size=0, reg=f"l2:{problem.lam}", dtype="float64", eval_every=3000, lr=lr,
    )  # fmt: skip
    x = result.X.mean(0).numpy()
    return float(np.linalg.norm(x - problem.optimum) / np.linalg.norm(problem.optimum))
