"""The exact pipeline in one process: the serial gradient, for every schedule and micro-batch count."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import consensus
from consensus.layerparallel import PipelineMethod, PipelineObjective, split_model
from consensus.layerparallel.pipeline import StageWorker, run_in_turn
from consensus.setup import local_shards, make_objective, make_problem

from .reference import models, random_rows, serial_gradient

MODELS = ["mlp", "sequential", "cnn", "resnet"]


def _setup(name: str, agents: int = 3):
    data = consensus.load_dataset("digits")
    module = models(data.num_features, data.output_dim, data.image_shape)[name]
    problem = make_problem(data, module, agents=agents, seed=1)
    shards = local_shards(problem, np.arange(agents), dtype=torch.float64, device="cpu")
    return problem, shards


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("schedule", ["gpipe", "1f1b"])
def test_pipeline_gradient_is_the_serial_gradient(name: str, schedule: str) -> None:
    problem, shards = _setup(name)
    layers = len(split_model(problem.module, 1).stages[0].layers)
    d = split_model(problem.module, 1).layout.dim
    X = random_rows(3, d)
    for stages in sorted({2, min(4, layers)}):
        split = split_model(problem.module, stages)
        for M in (1, 2, 4):
            objective = PipelineObjective(
                problem.module, problem.loss, shards, split=split, method=PipelineMethod(schedule, M),
                batch_size=8, seed=2,
            )  # fmt: skip
            batch = objective.batch(5)
            G, losses = objective.gradient(X, batch)
            reference = serial_gradient(problem.module, problem.loss, X, batch)
            torch.testing.assert_close(G, reference, rtol=0, atol=1e-10)
            plain = make_objective(problem, shards, batch_size=8, seed=2)
            torch.testing.assert_close(losses, plain.gradient(X, batch)[1], rtol=0, atol=1e-10)


def test_eval_forward_composes_the_stages() -> None:
    problem, shards = _setup("resnet")
    split = split_model(problem.module, 3)
    objective = PipelineObjective(
        problem.module, problem.loss, shards, split=split, method=PipelineMethod(), batch_size=8
    )
    plain = make_objective(problem, shards, batch_size=8, seed=0)
    X = random_rows(3, split.layout.dim, seed=4)
    x = shards.X[:, :10]
    torch.testing.assert_close(
        objective.forward(X, x, training=False),
        plain.forward(X, x, training=False),
        rtol=0,
        atol=1e-12,
    )


def test_an_inconsistent_schedule_is_refused_not_looped() -> None:
    problem, shards = _setup("mlp")
    split = split_model(problem.module, 2)
    workers = [StageWorker(s, problem.loss if s.index == 1 else None) for s in split.stages]
    X = random_rows(3, split.layout.dim)
    batch = make_objective(problem, shards, batch_size=4, seed=0).batch(0)
    for w, s in zip(workers, split.stages, strict=True):
        w.start(X[:, s.cols], torch.empty_like(X[:, s.cols]), [(batch.y, batch.w)])
    # stage 0 waits for a gradient of micro-batch 0 before anyone ran its forward
    with pytest.raises(RuntimeError, match="cannot progress"):
        run_in_turn(workers, [[("B", 0), ("F", 0)], [("F", 0), ("B", 0)]], [batch.x])


CASES = [
    ("next", {}),
    ("next", {"surrogate": "block", "inner_steps": 2}),
    ("gradient_tracking", {"lr": 0.2}),
    ("dsgd", {"lr": 0.2, "momentum": 0.5}),
]


@pytest.mark.parametrize(("algorithm", "options"), CASES)
@pytest.mark.parametrize("topology", ["ring", "link_failure:base=ring,q=0.3"])
def test_simulator_with_stages_follows_the_same_trajectory(
    algorithm: str, options: dict, topology: str
) -> None:
    from consensus.models import MLP

    common = dict(
        agents=6, dataset="wine", rounds=12, batch_size=8, dtype="float64", seed=3, eval_every=12,
        global_every=5, **options,
    )  # fmt: skip
    runs = {}
    for stages, method in [(1, "pipeline"), (2, "pipeline:schedule=gpipe,microbatches=4"),
                           (4, "pipeline:schedule=1f1b,microbatches=2")]:  # fmt: skip
        torch.manual_seed(0)
        runs[stages] = consensus.train(
            topology, algorithm, model=MLP(13, 3, hidden=(16, 16, 16)), stages=stages, layer_parallel=method,
            **common,
        )  # fmt: skip
    for stages in (2, 4):
        torch.testing.assert_close(runs[stages].X, runs[1].X, rtol=0, atol=1e-10)
        for key in ("loss", "consensus_error", "test_accuracy", "bytes_per_agent"):
            assert runs[stages].final[key] == pytest.approx(runs[1].final[key], rel=1e-9, abs=1e-12)
