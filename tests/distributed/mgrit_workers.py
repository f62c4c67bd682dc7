"""Worker functions of the multigrid-in-layers mesh tests (importable by spawned processes)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from .workers import init


def mgrit_gradients(
    rank: int, world: int, rendezvous: str, out: str, options: dict[str, Any]
) -> None:
    """One agent block of ``world`` stages: the multigrid gradient of every case, this stage's columns."""
    init(rank, world, rendezvous)
    from consensus.layerparallel import LayerParallel, layer_parallel
    from consensus.layerparallel.mesh import build_mesh
    from consensus.setup import initial_parameters, local_shards, make_problem

    mesh = build_mesh(world, rank, world, torch.device("cpu"))
    saved = []
    for case in options["cases"]:
        problem = make_problem("digits", options["model"], agents=2, seed=0)
        X = initial_parameters(problem, np.arange(2), init="same", seed=0, dtype=torch.float64)
        X = X + 0.05 * torch.randn(
            X.shape, generator=torch.Generator().manual_seed(1), dtype=X.dtype
        )
        plan = layer_parallel(problem.module, world, case, options["split_points"][world])
        assert plan is not None
        plan = LayerParallel(plan.split, plan.method, mesh, timeout=60)
        shards = local_shards(problem, np.arange(2), dtype=torch.float64, device="cpu")
        objective = plan.objective(
            problem.module, problem.loss, shards, batch_size=16, seed=0, dtype=torch.float64,
            device="cpu",
        )  # fmt: skip
        G, losses = objective.gradient(X[:, plan.columns], objective.batch(0))
        metrics = {k: v.clone() for k, v in objective.solver_metrics().items()}
        saved.append(
            {"G": G, "losses": losses, "cols": (plan.columns.start, plan.columns.stop),
             "metrics": metrics, "stage_bytes": objective.stage_bytes}
        )  # fmt: skip
    torch.save({"cases": saved}, os.path.join(out, f"rank{rank}.pt"))
    dist.destroy_process_group()
