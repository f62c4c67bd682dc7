"""The agents x stages mesh on gloo processes against the one-process simulator (the oracle)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import consensus
from consensus.layerparallel import PipelineMethod, PipelineObjective, split_model
from consensus.models import MLP
from consensus.setup import local_shards, make_problem
from tests.layerparallel.reference import models, random_rows, serial_gradient

from . import workers
from .harness import spawn

pytestmark = [pytest.mark.distributed, pytest.mark.timeout(600)]

CASES = [
    ("ring", "next", {}, "float64"),
    ("link_failure:base=ring,q=0.3", "next", {}, "float64"),
    ("ring", "gradient_tracking", {"lr": 0.2}, "float64"),
    ("link_failure:base=ring,q=0.3", "dsgd", {"lr": 0.2, "momentum": 0.5}, "float32"),
    ("ring", "next", {"surrogate": "partial", "inner_steps": 3}, "float64"),
    ("link_failure:base=ring,q=0.3", "next", {"surrogate": "block", "inner_steps": 3}, "float64"),
]
TOL = {"float64": 1e-10, "float32": 1e-5}


def _case(topology: str, algorithm: str, options: dict, dtype: str, method: str) -> dict:
    return {
        "topology": topology, "algorithm": algorithm, "algorithm_options": options, "agents": 6, "dataset": "wine",
        "rounds": 12, "batch_size": 8, "dtype": dtype, "seed": 3, "global_every": 5, "method": method,
    }  # fmt: skip


def _simulate(case: dict) -> consensus.api.Result:
    return consensus.train(
        case["topology"], case["algorithm"], agents=case["agents"], dataset=case["dataset"],
        model=MLP(13, 3, hidden=(16, 16, 16)), rounds=case["rounds"], batch_size=case["batch_size"],
        dtype=case["dtype"], seed=case["seed"], global_every=case["global_every"], eval_every=case["rounds"],
        **case["algorithm_options"],
    )  # fmt: skip


@pytest.mark.parametrize(
    ("stages", "method"),
    [(2, "pipeline:schedule=gpipe,microbatches=4"), (4, "pipeline:microbatches=2")],
)
def test_four_processes_follow_the_simulator(tmp_path: Path, stages: int, method: str) -> None:
    """4 processes as 2 blocks x 2 stages and as 1 block x 4 stages, static and time-varying graphs."""
    cases = [_case(*c, method) for c in CASES]
    parts = spawn(workers.train_mesh, 4, tmp_path, {"stages": stages, "cases": cases})
    d = split_model(MLP(13, 3, hidden=(16, 16, 16)), 1).layout.dim
    for k, case in enumerate(cases):
        sim, tol = _simulate(case), TOL[case["dtype"]]
        for part in (p["cases"][k] for p in parts):
            rows, cols = torch.as_tensor(part["rows"]), slice(*part["cols"])
            torch.testing.assert_close(part["X"], sim.X[rows][:, cols], rtol=0, atol=tol)
            torch.testing.assert_close(part["average"], sim.X.mean(0), rtol=0, atol=tol)
            # no process holds another stage's parameters or state
            width = cols.stop - cols.start
            assert width < d
            assert all(shape == (len(rows), width) for shape in part["sizes"].values()), part[
                "sizes"
            ]
            for key in ("loss", "consensus_error", "test_accuracy", "bytes_per_agent"):
                assert part["metrics"][key] == pytest.approx(sim.final[key], rel=1e-4, abs=1e-9), (
                    key
                )


@pytest.mark.parametrize("world", [2, 4])
def test_pipeline_gradient_on_processes_is_the_serial_gradient(tmp_path: Path, world: int) -> None:
    """MLP, user nn.Sequential, CNN and ResNet; GPipe and 1F1B; 1, 2 and 4 micro-batches; 1 agent block."""
    parts = spawn(workers.pipeline_gradients, world, tmp_path, {})
    data = consensus.load_dataset("digits")
    checked = 0
    for name, module in models(data.num_features, data.output_dim, data.image_shape).items():
        if (name, "gpipe", 1) not in parts[0]:
            assert world > len(split_model(module, 1).stages[0].layers)
            continue
        problem = make_problem(data, module, agents=3, seed=1)
        shards = local_shards(problem, np.arange(3), dtype=torch.float64, device="cpu")
        split = split_model(module, world)
        X = random_rows(3, split.layout.dim)
        simulator = PipelineObjective(
            module, problem.loss, shards, split=split, method=PipelineMethod(), batch_size=8, seed=2
        )
        batch = simulator.batch(5)
        reference = serial_gradient(module, problem.loss, X, batch)
        losses_ref = simulator.gradient(X, batch)[1]
        for key in parts[0]:
            if key[0] != name:
                continue
            G = torch.cat([p[key][0] for p in parts], dim=1)
            torch.testing.assert_close(G, reference, rtol=0, atol=1e-10)
            for p in parts:  # every stage sees the losses of the last one
                torch.testing.assert_close(p[key][1], losses_ref, rtol=0, atol=1e-10)
            if (
                world == 2
            ):  # one activation forward, its gradient back: 3 agents x 8 samples, float64
                from consensus.layerparallel.mesh import boundary_shapes

                width = int(np.prod(boundary_shapes(split, tuple(shards.X.shape[2:]))[1]))
                assert parts[0][key][3] == parts[1][key][3] == 3 * 8 * width * 8
            checked += 1
    assert checked >= (24 if world == 2 else 12)
