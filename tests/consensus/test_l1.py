"""l1 with NEXT: the result satisfies the centralized optimality conditions."""

from __future__ import annotations

import pytest
import torch

import consensus


@pytest.mark.parametrize("topology", ["ring", "link_failure:base=torus,q=0.3"])
def test_next_l1_solution_is_stationary(topology: str) -> None:
    data = consensus.load_dataset("wine")
    result = consensus.train(
        topology, "next", agents=8, dataset=data, model="logistic", partition="label", rounds=2500,
        batch_size=0, reg="l1:0.02", dtype="float64", eval_every=2500, tau=1.0, alpha0=1.0,
    )  # fmt: skip
    final = result.final
    # grad_norm is the distance of 0 from the subdifferential of F at x_bar.
    assert final["grad_norm"] <= 1e-6, final
    assert final["consensus_error"] < 1e-16
    x_bar = result.X.mean(0)
    zeros = int((x_bar == 0).sum())
    assert zeros > 0, "l1 should zero some weights exactly"
    assert torch.isfinite(x_bar).all()


def test_elastic_net_with_next_is_stationary() -> None:
    result = consensus.train(
        "torus", "next", agents=8, dataset="wine", model="logistic", rounds=2000, batch_size=0,
        reg="elastic:0.01,0.05", dtype="float64", eval_every=2000, tau=1.0, alpha0=1.0,
    )  # fmt: skip
    assert result.final["grad_norm"] <= 1e-6
