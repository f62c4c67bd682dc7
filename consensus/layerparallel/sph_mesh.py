"""The serial-parallel hybrid on the mesh: one stage process's part of it.

A parallel round exchanges only neighbour states: the states at the round's
rows go to the next stage, the gradient in them comes back. Both messages are
non-blocking sends and timed receives in a fixed order (forward states before
backward gradients), so the exchange cannot deadlock. Every stage sends its
states at once, except in a step that refreshes stale states (the first use
of a sample in a phase): then each stage first receives its input, and its
fresh states flow on stage by stage. Serial rounds are the
exact pipeline of :class:`~consensus.layerparallel.mesh.StageObjective`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..data.shards import Shards
from ..losses import Loss
from ..objective import Batch
from .mesh import Mesh, StageObjective, _P2PLink
from .sph import HybridRounds, SPHMethod
from .sph_objective import sph_workers
from .split import StageSplit

# Message kinds beside the pipeline's (tag = 8 * inner step + kind): states forward, gradients back.
_STATE, _STATE_GRAD = 6, 7


class SPHStageObjective(HybridRounds, StageObjective):
    """One stage process of the hybrid: its columns, its states, its parallel step.

    Parameters are those of :class:`~consensus.layerparallel.mesh.StageObjective`,
    with ``method`` the hybrid's options.
    """

    def __init__(
        self,
        module: nn.Module,
        loss: Loss,
        shards: Shards,
        *,
        split: StageSplit,
        method: SPHMethod,
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
        self.sph = method
        self.worker = sph_workers(
            split, loss, method, tuple(shards.X.shape[2:]), shards.X.shape[1]
        )[mesh.stage]
        self.states_ready = False  # set by a reset or a checkpoint's states

    def gradient(
        self, X: torch.Tensor, batch: Batch, *, training: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Parallel rounds: this stage's penalty gradient and state step; else the pipeline's."""
        if not self.parallel_round(training):
            return super().gradient(X, batch, training=training)
        worker, s = self.worker, self.mesh.stage
        n, B = batch.x.shape[:2]
        link = _P2PLink(self, n, [B], _STATE)
        beta = self.start_round([worker])
        assert batch.rows is not None
        G = X.new_empty(X.shape)
        last = worker.out is None
        for k in range(self.sph.inner_steps):
            tag = 8 * k
            if worker.stale(batch.rows):  # fresh states flow stage to stage: receive first
                h = batch.x if s == 0 else self._receive(link, s - 1, (n, B), tag + _STATE)
                sent = worker.forward(X, h, batch)
                if not last:
                    assert sent is not None
                    link._send(s + 1, sent, tag + _STATE)
            else:  # every stage sends its states at once
                if not last:
                    link._send(s + 1, worker.states_at(batch.rows), tag + _STATE)
                h = batch.x if s == 0 else self._receive(link, s - 1, (n, B), tag + _STATE)
                worker.forward(X, h, batch)
            g_in, losses = worker.backward(G, batch, beta)
            if g_in is not None:
                link._send(s - 1, g_in, tag + _STATE_GRAD)
            if not last:
                worker.update(self._receive(link, s + 1, (n, B), tag + _STATE_GRAD), batch, beta)
            link.flush()
        return G, self._from_last(losses)

    def _receive(self, link: _P2PLink, peer: int, lead: tuple[int, int], tag: int) -> torch.Tensor:
        """A state-sized message from stage ``peer``: the states of the boundary between us."""
        boundary = self.worker.inp if peer < self.mesh.stage else self.worker.out
        assert boundary is not None
        return link._recv(peer, (*lead, *boundary.low), tag)

    def state_dict(self) -> dict[str, Any]:
        """Counters, and this stage's states and multipliers."""
        return {
            **super().state_dict(),
            "sph": self.worker.state_dict(),
            "sph_ready": self.states_ready,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        if "sph" in state:
            self.worker.load_state_dict(state["sph"], self.device)
        self.states_ready = bool(state.get("sph_ready", False))
