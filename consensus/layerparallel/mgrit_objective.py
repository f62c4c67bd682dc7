"""Multigrid in layers, every stage simulated in one process: the oracle of the mesh.

:class:`MGRITObjective` computes each round's gradients by
:class:`~consensus.layerparallel.mgrit_pass.MGRITPass` with one process
owning every stage (:class:`LocalTransport`: the values a mesh process would
send are handed over, and counted), except every ``serial_every``-th round,
which is the exact pipeline of
:class:`~consensus.layerparallel.objective.PipelineObjective`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ..data.shards import Shards
from ..losses import Loss
from ..objective import Batch
from .mgrit import MGRITMethod, residual_chain
from .mgrit_pass import MGRITPass
from .mgrit_smooth import DepthSmoothing
from .objective import PipelineObjective
from .split import StageSplit


class LocalTransport:
    """Every stage in this process: a message is a hand-over (``count`` sees what a mesh would send)."""

    def __init__(self, count: Callable[[torch.Tensor], None]):
        self.count = count

    def mine(self, stage: int) -> bool:
        return True

    def move(
        self, x: torch.Tensor | None, src: int, dst: int, shape: tuple[int, ...] | None = None
    ) -> torch.Tensor | None:
        if x is not None and src != dst:
            self.count(x)
        return x

    def stage_sum(self, parts: list[torch.Tensor]) -> torch.Tensor:
        total = torch.zeros_like(parts[0])
        for part in parts:  # in stage order, as the mesh adds the gathered parts
            total = total + part
        return total

    def world_max(self, v: torch.Tensor) -> float:
        return float(v.max())


class MGRITRounds:
    """What the objectives in one process and on a mesh share: round phases and residual metrics."""

    mgrit: MGRITMethod
    round: int
    solver: MGRITPass
    smoothing: DepthSmoothing

    def multigrid_round(self, training: bool) -> bool:
        """Whether this round's gradient comes from multigrid (else the exact serial pass)."""
        return training and self.mgrit.phase(self.round) == "parallel"

    def solver_metrics(self) -> dict[str, torch.Tensor]:
        """Per-agent residual norm of each iteration of the last multigrid round."""
        out = {}
        for kind, norms in (
            ("forward", self.solver.forward_residuals),
            ("adjoint", self.solver.adjoint_residuals),
        ):
            out.update({f"mgrit_{kind}_residual_{i + 1}": r for i, r in enumerate(norms)})
        return out


class MGRITObjective(MGRITRounds, PipelineObjective):
    """Gradients of every hosted agent by multigrid in layers, in one process.

    Parameters
    ----------
    module, loss, shards, batch_size, seed
        As for :class:`~consensus.objective.LocalObjective`.
    split : StageSplit
        The stages (of ``module``); the residual chain's steps are spread as it puts them.
    method : MGRITMethod
        The options (its serial rounds use its schedule and micro-batches).
    """

    def __init__(
        self,
        module: nn.Module,
        loss: Loss,
        shards: Shards,
        *,
        split: StageSplit,
        method: MGRITMethod,
        batch_size: int = 0,
        seed: int = 0,
    ):
        super().__init__(module, loss, shards, split=split, method=method, batch_size=batch_size, seed=seed)  # fmt: skip
        self.mgrit, self.round = method, 0
        chain = residual_chain(split, tuple(shards.X.shape[2:]))
        self.solver = MGRITPass(chain, method, loss)
        self.smoothing = method.smoothing(chain)
        self.transport = LocalTransport(self._count)

    def batch(self, t: int) -> Batch:
        self.round = t
        return super().batch(t)

    def gradient(
        self, X: torch.Tensor, batch: Batch, *, training: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Multigrid rounds: the (inexact) gradients of ``n * f_i``; serial rounds: the pipeline's.

        Both with the gradient of the depth-smoothness regularizer added (``smooth > 0``).
        """
        layout = self.split.layout
        if self.multigrid_round(training):
            G = X.new_empty(X.shape)
            losses = self.solver.run(layout.views(X), layout.views(G), batch, self.transport)
            assert losses is not None
        else:
            G, losses = super().gradient(X, batch, training=training)
        self.smoothing.add_gradient(layout.views(X), layout.views(G), self.transport)
        return G, losses
