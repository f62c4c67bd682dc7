"""The serial-parallel hybrid (sph) on gloo processes against the one-process simulator (the oracle)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import consensus

from . import workers
from .harness import spawn

pytestmark = [pytest.mark.distributed, pytest.mark.timeout(600)]

MODEL = "resnet:channels=4,depth=3"  # stem, three blocks, head: image states at every boundary
TOL = {"float64": 1e-10, "float32": 1e-5}


def _case(
    topology: str, algorithm: str, options: dict, method: str, dtype: str = "float64"
) -> dict:
    return {
        "topology": topology, "algorithm": algorithm, "algorithm_options": options, "agents": 4,
        "dataset": "digits", "model": MODEL, "rounds": 9, "batch_size": 8, "dtype": dtype, "seed": 5,
        "global_every": 4, "method": method, "augment": "shift:pixels=1,flip=true",
    }  # fmt: skip


# Rounds 0-8 with serial_every=2, serial_rounds=1: parallel 0 1, serial 2, parallel 3 4 (reset at 3)...
CASES = [
    ("ring", "dsgd", {"lr": 0.05, "momentum": 0.5}, "sph:serial_every=2,inner_steps=2"),
    (
        "link_failure:base=ring,q=0.3",
        "gradient_tracking",
        {"lr": 0.05},
        "sph:method=al,serial_every=2,downsample=2",
    ),
    ("ring", "next", {}, "sph:method=al,serial_every=2,beta=0.5,beta_growth=1.1"),
    ("ring", "dsgd", {"lr": 0.05}, "sph:serial_every=0,downsample=2", "float32"),
]


def _simulate(case: dict, stages: int) -> consensus.api.Result:
    return consensus.train(
        case["topology"], case["algorithm"], agents=case["agents"], dataset=case["dataset"],
        model=case["model"], rounds=case["rounds"], batch_size=case["batch_size"], dtype=case["dtype"],
        seed=case["seed"], global_every=case["global_every"], eval_every=case["rounds"], stages=stages,
        layer_parallel=case["method"], augment=case["augment"], **case["algorithm_options"],
    )  # fmt: skip


@pytest.mark.parametrize("stages", [2, 4])
def test_sph_on_four_processes_follows_the_simulator(tmp_path: Path, stages: int) -> None:
    """2 blocks x 2 stages and 1 block x 4 stages: the same parameters, metrics and stage traffic."""
    cases = [_case(*c) for c in CASES]
    parts = spawn(workers.train_mesh, 4, tmp_path, {"stages": stages, "cases": cases})
    for k, case in enumerate(cases):
        sim, tol = _simulate(case, stages), TOL[case["dtype"]]
        for part in (p["cases"][k] for p in parts):
            rows, cols = torch.as_tensor(part["rows"]), slice(*part["cols"])
            torch.testing.assert_close(part["X"], sim.X[rows][:, cols], rtol=0, atol=tol)
            keys = (
                "loss",
                "consensus_error",
                "test_accuracy",
                "bytes_per_agent",
                "stage_bytes_per_agent",
            )
            for key in keys:
                assert part["metrics"][key] == pytest.approx(sim.final[key], rel=1e-6, abs=1e-9), (
                    key
                )
        assert sim.final["stage_bytes_per_agent"] > 0
