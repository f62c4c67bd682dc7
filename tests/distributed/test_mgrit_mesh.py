"""Multigrid in layers (mgrit) on gloo processes against the one-process simulator (the oracle)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import consensus
from consensus.layerparallel import split_model
from consensus.layerparallel.mgrit import MGRITMethod
from consensus.layerparallel.mgrit_objective import MGRITObjective
from consensus.setup import initial_parameters, local_shards, make_problem

from . import workers
from .harness import spawn
from .mgrit_workers import mgrit_gradients

pytestmark = [pytest.mark.distributed, pytest.mark.timeout(600)]

# Stem, seven residual blocks, head (layers 0..8). Uneven stages: 2 | 7 on two processes,
# 2 | 1 | 4 | 2 on four (the steps per process: 1 | 6 and 1 | 1 | 4 | 1).
DEEP = "resnet:channels=4,depth=7"
SPLITS = {1: None, 2: [2], 4: [2, 3, 7]}
GRADIENT_CASES = [
    "mgrit:levels=2,cfactor=4,fwd_iters=2,bwd_iters=1,relax=F",
    "mgrit:levels=2,cfactor=4,fwd_iters=2,bwd_iters=1,smooth=0.5",  # boundary weights exchanged
    "mgrit:levels=3,cfactor=4,fwd_iters=2,bwd_iters=2,relax=FCF",
    "mgrit:levels=3,cfactor=2,fwd_iters=1,bwd_iters=1,relax=FCF",
    # Summed coarse steps: intervals span stages, so stages lend their blocks' weights.
    "mgrit:levels=2,cfactor=4,fwd_iters=2,bwd_iters=1,coarse=sum,init=nested",
    "mgrit:levels=3,cfactor=2,fwd_iters=1,bwd_iters=1,relax=F,coarse=sum",
]


def _one_process(spec: str) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """The simulator on a single stage: every step in this process."""
    problem = make_problem("digits", DEEP, agents=2, seed=0)
    X = initial_parameters(problem, np.arange(2), init="same", seed=0, dtype=torch.float64)
    X = X + 0.05 * torch.randn(X.shape, generator=torch.Generator().manual_seed(1), dtype=X.dtype)
    shards = local_shards(problem, np.arange(2), dtype=torch.float64, device="cpu")
    method = consensus.layerparallel.resolve_method(spec)
    assert isinstance(method, MGRITMethod)
    objective = MGRITObjective(
        problem.module, problem.loss, shards, split=split_model(problem.module, 1), method=method,
        batch_size=16, seed=0,
    )  # fmt: skip
    G, losses = objective.gradient(X, objective.batch(0))
    return G, losses, objective.solver_metrics()


def test_one_two_and_four_processes_give_identical_gradients(tmp_path: Path) -> None:
    """Uneven layers per process, cfactor 4 (and 2): the same gradients, losses and residuals, bit for bit."""
    options = {"model": DEEP, "split_points": SPLITS, "cases": GRADIENT_CASES}
    runs = {p: spawn(mgrit_gradients, p, tmp_path, options) for p in (2, 4)}
    for k, spec in enumerate(GRADIENT_CASES):
        G1, losses1, metrics1 = _one_process(spec)
        assert any(k.startswith("mgrit_forward_residual_") for k in metrics1)
        for parts in runs.values():
            for part in (p["cases"][k] for p in parts):
                cols = slice(*part["cols"])
                torch.testing.assert_close(part["G"], G1[:, cols], rtol=0, atol=0)
                torch.testing.assert_close(part["losses"], losses1, rtol=0, atol=0)
                assert part["metrics"].keys() == metrics1.keys()
                for key, value in metrics1.items():
                    torch.testing.assert_close(part["metrics"][key], value, rtol=0, atol=0)
            assert sum(p["cases"][k]["stage_bytes"] for p in parts) > 0


TRAIN_CASES = [
    ("ring", "dsgd", {"lr": 0.05, "momentum": 0.5}, "mgrit:serial_every=3,smooth=0.2"),
    (
        "link_failure:base=ring,q=0.3",
        "gradient_tracking",
        {"lr": 0.05},
        "mgrit:levels=3,cfactor=2,relax=F,coarse=sum,init=nested",
    ),
    ("ring", "next", {}, "mgrit:cfactor=2,tol=1e-3,fwd_iters=4,bwd_iters=2"),
]


def _case(topology: str, algorithm: str, options: dict, method: str) -> dict:
    return {
        "topology": topology, "algorithm": algorithm, "algorithm_options": options, "agents": 4,
        "dataset": "digits", "model": "resnet:channels=4,depth=6", "rounds": 7, "batch_size": 8,
        "dtype": "float64", "seed": 5, "global_every": 4, "method": method,
    }  # fmt: skip


@pytest.mark.parametrize("stages", [2, 4])
def test_training_on_four_processes_follows_the_simulator(tmp_path: Path, stages: int) -> None:
    """2 blocks x 2 stages and 1 block x 4 stages: the same parameters, metrics and stage traffic."""
    cases = [_case(*c) for c in TRAIN_CASES]
    parts = spawn(workers.train_mesh, 4, tmp_path, {"stages": stages, "cases": cases})
    for k, case in enumerate(cases):
        sim = consensus.train(
            case["topology"], case["algorithm"], agents=case["agents"], dataset=case["dataset"],
            model=case["model"], rounds=case["rounds"], batch_size=case["batch_size"], dtype=case["dtype"],
            seed=case["seed"], global_every=case["global_every"], eval_every=case["rounds"], stages=stages,
            layer_parallel=case["method"], **case["algorithm_options"],
        )  # fmt: skip
        residuals = [key for key in sim.final if key.startswith("mgrit_")]
        assert residuals, sim.final.keys()
        for part in (p["cases"][k] for p in parts):
            rows, cols = torch.as_tensor(part["rows"]), slice(*part["cols"])
            torch.testing.assert_close(part["X"], sim.X[rows][:, cols], rtol=0, atol=1e-10)
            for key in ("loss", "test_accuracy", "stage_bytes_per_agent", *residuals):
                assert part["metrics"][key] == pytest.approx(sim.final[key], rel=1e-6, abs=1e-9), (
                    key
                )
