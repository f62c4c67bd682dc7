"""Diversely stale parameters, every stage simulated in one process.

:class:`DSPObjective` is the oracle of the multi-process DSP
(:class:`~consensus.layerparallel.dsp_mesh.DSPStageObjective`): in every
training round it runs each stage's forward in stage order, then each stage's
backward in reverse order, handing every message to its receiver's queue. A
pipelined message is used in a later round (its lags say so), a chained one
later in the same round, so the stages compute exactly what the processes of
a mesh compute. Passes that are not training rounds (the metrics) are the exact
pipeline's.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..data.shards import Shards
from ..losses import Loss
from ..objective import Batch
from .dsp import DSPMethod, counters, dsp_workers
from .objective import PipelineObjective
from .split import StageSplit


class DSPObjective(PipelineObjective):
    """Each stage's gradient of the batch it backwards this round, at its current parameters.

    Parameters
    ----------
    module, loss, shards, batch_size, seed
        As for :class:`~consensus.objective.LocalObjective`.
    split : StageSplit
        The stages (of ``module``).
    method : DSPMethod
        The staleness pattern and recomputation.
    """

    def __init__(
        self,
        module: nn.Module,
        loss: Loss,
        shards: Shards,
        *,
        split: StageSplit,
        method: DSPMethod,
        batch_size: int = 0,
        seed: int = 0,
    ):
        super().__init__(
            module, loss, shards, split=split, method=method, batch_size=batch_size, seed=seed
        )
        self.lags = method.lags(split.count)
        self.dsp_workers = dsp_workers(split, loss, method)
        self.steps = 0  # DSP time steps taken (training rounds)

    def gradient(
        self, X: torch.Tensor, batch: Batch, *, training: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Training: one DSP time step (every stage's forward and backward); else the exact pipeline's."""
        if not training:
            return super().gradient(X, batch, training=False)
        r, workers, stages = self.steps, self.dsp_workers, self.split.stages
        G = X.new_empty(X.shape)
        losses = X.new_zeros(X.shape[0])
        for worker in workers:
            worker.begin(r, batch)
        forwarded = [False] * len(workers)
        for s, (worker, stage) in enumerate(zip(workers, stages, strict=True)):
            sent = worker.forward(X[:, stage.cols], r)
            forwarded[s] = sent is not None
            if sent is not None and not worker.last:
                workers[s + 1].give_activation(*sent)
                self._count(sent[1])
        backwarded = [False] * len(workers)
        for s in reversed(range(len(workers))):
            cols = stages[s].cols
            done = workers[s].backward(X[:, cols], G[:, cols], r)
            if done is None:
                continue
            backwarded[s] = True
            k, g_in, stage_losses = done
            if g_in is not None:
                workers[s - 1].give_gradient(k, g_in)
                self._count(g_in)
            if stage_losses is not None:
                losses = stage_losses
        for worker, f, b in zip(workers, forwarded, backwarded, strict=True):
            worker.end(f, b)
        self.steps += 1
        return G, losses.detach()

    def solver_metrics(self) -> dict[str, torch.Tensor]:
        """Per agent: forwards, backwards and idle rounds, summed over its stages (cumulative)."""
        n = self.shards.X.shape[0]
        return {k: torch.full((n,), v) for k, v in counters(self.dsp_workers).items()}

    def state_dict(self) -> dict[str, Any]:
        """Counters, every stage's queues, and the time step."""
        return {
            **super().state_dict(),
            "dsp": [w.state_dict() for w in self.dsp_workers],
            "dsp_steps": self.steps,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        for worker, saved in zip(self.dsp_workers, state.get("dsp", []), strict=False):
            worker.load_state_dict(saved, self.shards.X.device)
        self.steps = int(state.get("dsp_steps", 0))
