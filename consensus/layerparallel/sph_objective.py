"""The serial-parallel hybrid's local objective, every stage simulated in one process.

:class:`SPHObjective` is the oracle of the multi-process hybrid
(:class:`~consensus.layerparallel.sph_mesh.SPHStageObjective`): its parallel
rounds run each stage's step in turn on the values a mesh process would have
received, its serial rounds are the exact pipeline of
:class:`~consensus.layerparallel.objective.PipelineObjective`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..data.shards import Shards
from ..losses import Loss
from ..objective import Batch
from .mesh import boundary_shapes
from .objective import PipelineObjective
from .sph import HybridRounds, Resampler, SPHMethod, SPHWorker
from .split import StageSplit


def sph_workers(
    split: StageSplit, loss: Loss, method: SPHMethod, input_shape: tuple[int, ...], shard_rows: int
) -> list[SPHWorker]:
    """One :class:`SPHWorker` per stage, with the filters of its boundaries."""
    shapes, S = boundary_shapes(split, input_shape), split.count
    filters = [
        Resampler(method.downsample, shapes[b], f"the state between stages {b - 1} and {b}")
        for b in range(1, S)
    ]
    return [
        SPHWorker(
            stage,
            loss if s == S - 1 else None,
            method,
            filters[s - 1] if s > 0 else None,
            filters[s] if s < S - 1 else None,
            shard_rows,
        )
        for s, stage in enumerate(split.stages)
    ]


class SPHObjective(HybridRounds, PipelineObjective):
    """Gradients of the agents' penalty functions (parallel rounds) or loss (serial rounds).

    Parameters
    ----------
    module, loss, shards, batch_size, seed
        As for :class:`~consensus.objective.LocalObjective`.
    split : StageSplit
        The stages (of ``module``).
    method : SPHMethod
        The hybrid's options (its serial rounds use its schedule and micro-batches).
    """

    def __init__(
        self,
        module: nn.Module,
        loss: Loss,
        shards: Shards,
        *,
        split: StageSplit,
        method: SPHMethod,
        batch_size: int = 0,
        seed: int = 0,
    ):
        super().__init__(
            module, loss, shards, split=split, method=method, batch_size=batch_size, seed=seed
        )
        self.sph = method
        self.sph_workers = sph_workers(
            split, loss, method, tuple(shards.X.shape[2:]), shards.X.shape[1]
        )
        self.round = 0
        self.states_ready = False  # set by a reset or a checkpoint's states

    def batch(self, t: int) -> Batch:
        self.round = t
        return super().batch(t)

    def gradient(
        self, X: torch.Tensor, batch: Batch, *, training: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Parallel rounds: the penalty function's gradient (and a state step); else the pipeline's."""
        if not self.parallel_round(training):
            return super().gradient(X, batch, training=training)
        workers, stages = self.sph_workers, self.split.stages
        beta = self.start_round(workers)
        G = X.new_empty(X.shape)
        losses = X.new_zeros(X.shape[0])
        for _ in range(self.sph.inner_steps):  # the states move, the parameters stay
            h: torch.Tensor | None = batch.x
            for worker, stage in zip(workers, stages, strict=True):
                assert h is not None
                h = worker.forward(X[:, stage.cols], h, batch)  # in turn: fresh states flow on
                if h is not None:
                    self._count(h)
            back: list[torch.Tensor | None] = []
            for worker, stage in zip(workers, stages, strict=True):
                g_in, losses = worker.backward(G[:, stage.cols], batch, beta)
                back.append(g_in)
            for worker, g in zip(workers[:-1], back[1:], strict=True):
                assert g is not None
                self._count(g)
                worker.update(g, batch, beta)
        return G, losses

    def state_dict(self) -> dict[str, Any]:
        """Counters, and every stage's states and multipliers."""
        return {
            **super().state_dict(),
            "sph": [w.state_dict() for w in self.sph_workers],
            "sph_ready": self.states_ready,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        for worker, saved in zip(self.sph_workers, state.get("sph", []), strict=False):
            worker.load_state_dict(saved, self.shards.X.device)
        self.states_ready = bool(state.get("sph_ready", False))
