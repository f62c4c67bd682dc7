"""Multigrid in layers on the mesh: one stage process's part of each gradient.

The stage computes the steps whose input points it owns
(:mod:`~consensus.layerparallel.mgrit_solver`) and exchanges states with the
stages that own their neighbours: isend, and irecv with the run's timeout.
Messages go one way in each solve (to later stages in the forward, to earlier
ones in the adjoint) and each is tagged by its number in the sequence every
process walks alike, so the exchange cannot deadlock or mismatch. Residual
norms add the stages' parts in stage order (an all-gather), so every process
and the simulator get the same numbers. Every ``serial_every``-th round is the
exact pipeline of :class:`~consensus.layerparallel.mesh.StageObjective`.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from ..data.shards import Shards
from ..losses import Loss
from ..objective import Batch
from .mesh import Mesh, StageObjective
from .mgrit import MGRITMethod, residual_chain
from .mgrit_objective import MGRITRounds
from .mgrit_pass import MGRITPass
from .split import StageSplit

#: Tags of multigrid messages start here (above the pipeline's 8 * micro-batch + kind).
_TAG0 = 1 << 20


class MeshTransport:
    """This stage process's messages in one multigrid pass."""

    def __init__(self, owner: MGRITStageObjective, shape: tuple[int, ...]):
        self.o, self.shape = owner, shape
        self.key = 0
        self.sends: list[tuple[int, Any, torch.Tensor]] = []

    def mine(self, stage: int) -> bool:
        return stage == self.o.mesh.stage

    def move(
        self, x: torch.Tensor | None, src: int, dst: int, shape: tuple[int, ...] | None = None
    ) -> torch.Tensor | None:
        self.key += 1
        if src == dst:
            return x if self.mine(dst) else None
        o, tag = self.o, _TAG0 + self.key
        if self.mine(src):
            assert x is not None
            x = x.contiguous()
            o.stage_bytes += x.numel() * x.element_size()
            self.sends.append((dst, dist.isend(x, dst=o.mesh.rank_of(dst), tag=tag), x))
        if not self.mine(dst):
            return None
        buf = torch.empty(shape or self.shape, dtype=o.dtype, device=o.device)
        o.wait(dist.irecv(buf, src=o.mesh.rank_of(src), tag=tag), src, f"receive state {self.key}")
        return buf

    def stage_sum(self, parts: list[torch.Tensor]) -> torch.Tensor:
        mine = parts[self.o.mesh.stage].contiguous()
        gathered = [torch.empty_like(mine) for _ in parts]
        work = dist.all_gather(gathered, mine, group=self.o.mesh.stage_group, async_op=True)
        self.o.wait(work, None, "gather residual norms")
        total = torch.zeros_like(mine)
        for part in gathered:
            total = total + part
        return total

    def world_max(self, v: torch.Tensor) -> float:
        top = v.max().reshape(1).clone()
        work = dist.all_reduce(top, op=dist.ReduceOp.MAX, async_op=True)
        self.o.wait(work, None, "agree on the residual")
        return float(top[0])

    def flush(self) -> None:
        for peer, work, _ in self.sends:
            self.o.wait(work, peer, "send state")
        self.sends.clear()


class MGRITStageObjective(MGRITRounds, StageObjective):
    """One stage process of multigrid in layers: its columns, its steps, its messages.

    Parameters are those of :class:`~consensus.layerparallel.mesh.StageObjective`,
    with ``method`` the multigrid options.
    """

    def __init__(
        self,
        module: nn.Module,
        loss: Loss,
        shards: Shards,
        *,
        split: StageSplit,
        method: MGRITMethod,
        mesh: Mesh,
        dtype: torch.dtype,
        device: torch.device,
        timeout: float,
        batch_size: int = 0,
        seed: int = 0,
    ):
        super().__init__(
            module, loss, shards, split=split, method=method, mesh=mesh, dtype=dtype,
            device=device, timeout=timeout, batch_size=batch_size, seed=seed,
        )  # fmt: skip
        self.mgrit = method
        self.chain = residual_chain(split, tuple(shards.X.shape[2:]))
        self.solver = MGRITPass(self.chain, method, loss)
        self.smoothing = method.smoothing(self.chain)

    def gradient(
        self, X: torch.Tensor, batch: Batch, *, training: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Multigrid rounds: this stage's columns of the (inexact) gradients; else the pipeline's.

        Both with the depth-smoothness regularizer's gradient (``smooth > 0``), for
        which neighbouring stages exchange their boundary steps' weights.
        """
        n, B = batch.x.shape[:2]
        transport = MeshTransport(self, (n, B, *self.chain.state))
        multigrid = self.multigrid_round(training)
        losses: torch.Tensor | None
        if multigrid:
            G = X.new_empty(X.shape)
            losses = self.solver.run(self.layout.views(X), self.layout.views(G), batch, transport)
        else:
            G, losses = super().gradient(X, batch, training=training)
        self.smoothing.add_gradient(self.layout.views(X), self.layout.views(G), transport)
        transport.flush()
        if multigrid:  # the losses from the last stage (after this round's messages are out)
            losses = self._from_last(X.new_zeros(n) if losses is None else losses)
        assert losses is not None
        return G, losses
