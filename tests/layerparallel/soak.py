"""A long run of pipelined gradients whose schedule and micro-batch count change every round.

The same function runs in one process (every stage in turn, the oracle) and as
one stage of a gloo mesh (``tests/distributed/workers.pipeline_soak``).
"""

from __future__ import annotations

import numpy as np
import torch

import consensus
from consensus.layerparallel import LayerParallel, PipelineMethod, split_model
from consensus.models import MLP
from consensus.setup import local_shards, make_problem

SCHEDULES = ("gpipe", "1f1b")


def soak_run(
    rounds: int, *, world: int = 1, rank: int = 0, stages: int = 2, timeout: float = 30
) -> torch.Tensor:
    """SGD for ``rounds`` rounds with pipelined gradients; returns this process's columns."""
    data = consensus.load_dataset("iris")
    torch.manual_seed(0)
    module = MLP(data.num_features, data.output_dim, hidden=(6, 5, 4))
    problem = make_problem(data, module, agents=3, seed=0)
    shards = local_shards(problem, np.arange(3), dtype=torch.float64, device="cpu")
    split = split_model(module, stages)
    mesh = None
    if world > 1:
        from consensus.layerparallel.mesh import build_mesh

        mesh = build_mesh(world, rank, stages, torch.device("cpu"))
    X = torch.as_tensor(np.random.default_rng(0).normal(scale=0.3, size=(3, split.layout.dim)))
    objectives = {}
    for schedule in SCHEDULES:
        for M in (1, 2, 3, 4):
            plan = LayerParallel(split, PipelineMethod(schedule, M), mesh, timeout=timeout)
            objectives[schedule, M] = plan.objective(
                module,
                problem.loss,
                shards,
                batch_size=4,
                seed=1,
                dtype=torch.float64,
                device="cpu",
            )
    cols = plan.columns
    X = X[:, cols].clone()
    for t in range(rounds):
        objective = objectives[SCHEDULES[t % 2], 1 + (t // 2) % 4]
        G, _ = objective.gradient(X, objective.batch(t))
        X -= 0.05 * G
    return X
