"""The simulator is the oracle: 1, 2 and 4 gloo processes give the same final model."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import consensus

from . import workers
from .harness import spawn

pytestmark = [pytest.mark.distributed, pytest.mark.timeout(300)]

CASES = [
    ("ring", "next", "float32", 1e-5),
    ("link_failure:base=torus,q=0.3", "next", "float64", 1e-12),
    ("one_peer_exponential", "push_sum", "float64", 1e-12),
]


@pytest.mark.parametrize(("topology", "algorithm", "dtype", "tol"), CASES)
def test_processes_match_the_simulator(
    tmp_path: Path, topology: str, algorithm: str, dtype: str, tol: float
) -> None:
    options = {
        "topology": topology, "algorithm": algorithm, "agents": 8, "dataset": "wine", "model": "mlp", "rounds": 25,
        "batch_size": 6, "dtype": dtype, "seed": 5, "global_every": 10, "reg": "l2:0.01",
    }  # fmt: skip
    sim = consensus.train(
        topology, algorithm, agents=8, dataset="wine", model="mlp", rounds=25, batch_size=6, dtype=dtype, seed=5,
        global_every=10, reg="l2:0.01", eval_every=25,
    )  # fmt: skip
    for world in (2, 4):
        parts = spawn(workers.train_block, world, tmp_path, options)
        X = torch.cat([p["X"] for p in parts])
        err = float((X.mean(0) - sim.X.mean(0)).abs().max())
        assert err <= tol, f"{world} processes: average model differs by {err:.2e}"
        torch.testing.assert_close(X, sim.X, rtol=0, atol=tol * 10)
        assert parts[0]["metrics"]["bytes_per_agent"] == pytest.approx(sim.final["bytes_per_agent"])
        assert parts[0]["metrics"]["loss"] == pytest.approx(sim.final["loss"], rel=1e-4)
