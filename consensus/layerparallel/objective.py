"""The local objective of layer-parallel agents, simulated in one process.

:class:`PipelineObjective` is a :class:`~consensus.objective.LocalObjective`
whose gradients come from the exact pipeline, every stage run in turn in this
process, with the same micro-batches and schedule as the processes of a mesh.
It is the oracle the multi-process mesh is tested against. Forward passes
(the metrics) compose the stages on the whole batch, as the mesh does.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from ..data.shards import Shards
from ..losses import Loss
from ..objective import Batch, LocalObjective
from .pipeline import StageWorker, forward_in_turn, run_in_turn
from .schedules import SCHEDULES, Scheduled
from .split import StageSplit, split_model


def microbatches(
    batch: Batch, M: int
) -> tuple[list[torch.Tensor], list[tuple[torch.Tensor, torch.Tensor]]]:
    """Inputs and ``(y, w)`` of ``M`` micro-batches: the batch cut along the sample dimension."""
    xs = list(torch.tensor_split(batch.x, M, dim=1))
    ys = torch.tensor_split(batch.y, M, dim=1)
    ws = torch.tensor_split(batch.w, M, dim=1)
    return xs, list(zip(ys, ws, strict=True))


class PipelineObjective(LocalObjective):
    """Gradients of every hosted agent by the exact pipeline over ``split``'s stages, in one process.

    ``stage_bytes`` counts the activations and gradients handed between stages
    in training passes (what the processes of a mesh send each other).

    Parameters
    ----------
    module, loss, shards, batch_size, seed
        As for :class:`~consensus.objective.LocalObjective`.
    split : StageSplit
        The stages (of ``module``).
    method : Scheduled
        Schedule and number of micro-batches (a PipelineMethod, or a hybrid for its serial rounds).
    """

    layer_parallel = True

    def __init__(
        self,
        module: nn.Module,
        loss: Loss,
        shards: Shards,
        *,
        split: StageSplit,
        method: Scheduled,
        batch_size: int = 0,
        seed: int = 0,
    ):
        super().__init__(module, loss, shards, batch_size=batch_size, seed=seed)
        self.split, self.method = split, method
        self.schedule = SCHEDULES[method.schedule](split.count, method.microbatches)
        last = split.count - 1
        self.workers = [StageWorker(s, loss if s.index == last else None) for s in split.stages]
        # Metrics run the model in eval mode (dropout off) on a copy, as LocalObjective does.
        eval_split = split_model(copy.deepcopy(module).train(False), split.count, split.cut_points)
        self.eval_workers = [
            StageWorker(s, loss if s.index == last else None) for s in eval_split.stages
        ]

    def gradient(
        self, X: torch.Tensor, batch: Batch, *, training: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Gradients of ``n * f_i`` by the pipeline (the serial gradient), and the losses."""
        G = X.new_empty(X.shape)
        xs, targets = microbatches(batch, self.method.microbatches)
        workers = self.workers if training else self.eval_workers
        for worker, stage in zip(workers, self.split.stages, strict=True):
            worker.start(X[:, stage.cols], G[:, stage.cols], targets)
        run_in_turn(workers, self.schedule, xs, self._count if training else None)
        losses = workers[-1].losses
        assert losses is not None
        return G, losses.detach()

    def _count(self, t: torch.Tensor) -> None:
        """Count a tensor handed between stages (the bytes a mesh process would send)."""
        self.stage_bytes += t.numel() * t.element_size()

    def forward(self, X: torch.Tensor, x: torch.Tensor, *, training: bool = True) -> torch.Tensor:
        """Outputs ``(n, B, C)``.

        In eval mode (the metrics) the stages are composed on the whole input,
        as on the mesh; in training mode (the linearizations of NEXT's partial
        surrogates, differentiated by autograd) the whole model runs.
        """
        if training:
            return super().forward(X, x, training=True)
        for worker, stage in zip(self.eval_workers, self.split.stages, strict=True):
            worker.start(X[:, stage.cols], None)
        return forward_in_turn(self.eval_workers, x)
