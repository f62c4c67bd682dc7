"""Diversely stale parameters (dsp) on gloo processes against the one-process simulator (the oracle)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import consensus
from consensus.layerparallel.dsp import DSPMethod

from . import workers
from .harness import spawn

pytestmark = [pytest.mark.distributed, pytest.mark.timeout(600)]

MODEL = "resnet:channels=4,depth=3"  # stem, three blocks, head: image activations at every boundary
TOL = {"float64": 1e-10, "float32": 1e-5}
COUNTS = ("stage_forwards", "stage_backwards", "stage_idle_steps")

# Per stage count: patterns with a queued gradient and with chained boundaries (in-round waits).
PATTERNS = {2: ["auto", "0", "3-0", "1-0"], 4: ["auto", "0", "5-1-1-0", "7-4-2-0"]}


def _case(
    topology: str, algorithm: str, options: dict, method: str, dtype: str = "float64"
) -> dict:
    return {
        "topology": topology, "algorithm": algorithm, "algorithm_options": options, "agents": 4,
        "dataset": "digits", "model": MODEL, "rounds": 9, "batch_size": 8, "dtype": dtype, "seed": 5,
        "global_every": 4, "method": method, "augment": "shift:pixels=1",
    }  # fmt: skip


def _cases(stages: int) -> list[dict]:
    auto, exact, queued, chained = PATTERNS[stages]
    return [
        _case("ring", "dsgd", {"lr": 0.05, "momentum": 0.5}, "dsp:recompute=true"),
        _case("link_failure:base=ring,q=0.3", "gradient_tracking", {"lr": 0.05}, "dsp"),
        _case("ring", "next", {}, f"dsp:staleness={exact}"),
        _case("ring", "dsgd", {"lr": 0.05}, f"dsp:staleness={queued},recompute=false"),
        _case("ring", "gradient_tracking", {"lr": 0.05}, f"dsp:staleness={chained},recompute=true"),
        _case("ring", "dsgd", {"lr": 0.05}, f"dsp:staleness={auto}", "float32"),
    ]  # fmt: skip


def _simulate(case: dict, stages: int) -> consensus.api.Result:
    return consensus.train(
        case["topology"], case["algorithm"], agents=case["agents"], dataset=case["dataset"],
        model=case["model"], rounds=case["rounds"], batch_size=case["batch_size"], dtype=case["dtype"],
        seed=case["seed"], global_every=case["global_every"], eval_every=case["rounds"], stages=stages,
        layer_parallel=case["method"], augment=case["augment"], **case["algorithm_options"],
    )  # fmt: skip


@pytest.mark.parametrize(("world", "stages"), [(2, 2), (4, 2), (4, 4)])
def test_dsp_on_the_mesh_follows_the_simulator(tmp_path: Path, world: int, stages: int) -> None:
    """1 x 2, 2 x 2 and 1 x 4 processes: the same parameters, metrics, stage traffic and counts.

    The counts are the mesh processes' own (each counts its stage; the metrics
    add the stages of an agent): with ``staleness=auto`` the idle rounds are
    the warm-up's only.
    """
    cases = _cases(stages)
    parts = spawn(workers.train_mesh, world, tmp_path, {"stages": stages, "cases": cases})
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
            for key in COUNTS:
                assert part["metrics"][key] == sim.final[key], key
        assert sim.final["stage_bytes_per_agent"] > 0
        method = consensus.layerparallel.resolve_method(case["method"])
        assert isinstance(method, DSPMethod)
        lags = method.lags(stages)
        if method.staleness == "auto":
            assert parts[0]["cases"][k]["metrics"]["stage_idle_steps"] == lags.idle_in_warmup()
        assert parts[0]["cases"][k]["metrics"]["stage_backwards"] == stages * case["rounds"] - sum(
            lags.backward
        )


def dsp_stage_dies(rank: int, world: int, rendezvous: str, out: str, options: dict) -> None:
    """Two stages of DSP with plain SGD; stage 1 exits after round 4, stage 0 must time out naming it."""
    workers.init(rank, world, rendezvous)
    import os
    import time

    import numpy as np

    from consensus.layerparallel import LayerParallel, layer_parallel
    from consensus.layerparallel.mesh import build_mesh
    from consensus.mixers.distributed import ExchangeTimeout
    from consensus.setup import local_shards, make_problem

    mesh = build_mesh(world, rank, 2, torch.device("cpu"))
    problem = make_problem("iris", "mlp:hidden=6-5", agents=2, seed=0)
    plan = layer_parallel(problem.module, 2, "dsp")
    assert plan is not None
    plan = LayerParallel(plan.split, plan.method, mesh, timeout=5)
    shards = local_shards(problem, np.arange(2), dtype=torch.float64, device="cpu")
    objective = plan.objective(
        problem.module,
        problem.loss,
        shards,
        batch_size=4,
        seed=0,
        dtype=torch.float64,
        device="cpu",
    )
    X = torch.zeros(2, plan.split.stages[rank].dim, dtype=torch.float64)
    start = time.monotonic()
    try:
        for t in range(100):
            if rank == 1 and t == 5:
                os._exit(0)
            G, _ = objective.gradient(X, objective.batch(t))
            X -= 0.1 * G
    except ExchangeTimeout as err:
        with open(os.path.join(out, "error.txt"), "w") as fh:
            fh.write(f"{time.monotonic() - start:.1f} {err}")
    os._exit(0)


@pytest.mark.timeout(120)
def test_a_dead_stage_stops_its_neighbour_with_the_round_and_peer(tmp_path: Path) -> None:
    import torch.multiprocessing as mp

    out = tmp_path / "out"
    out.mkdir()
    mp.start_processes(
        dsp_stage_dies, args=(2, str(tmp_path / "rdzv"), str(out), {}), nprocs=2, join=True,
        start_method="spawn",
    )  # fmt: skip
    seconds, message = (out / "error.txt").read_text().split(" ", 1)
    assert message.startswith("round 5: stage 0 of agent block 0:") and "stage 1" in message, (
        message
    )
    assert float(seconds) < 60
