"""Diversely stale parameters on the mesh: one stage process's part of a time step.

Per round, stage ``s`` sends at most two messages: the output of its forward
to stage ``s+1`` and the gradient in its backward's input to stage ``s-1``.
A pipelined message is for the receiver's next round (or later), so in the
steady state of ``staleness=auto`` no stage waits for another within a round:

1. post the receives of the messages the neighbours send this round for a
   later one (non-blocking);
2. on a chained boundary, receive the input (timed wait), then forward and
   send the output (non-blocking);
3. on a chained boundary, receive the output gradient (timed wait), then
   backward and send the input gradient (non-blocking);
4. wait for the receives of 1, then for the sends.

Every receive is posted before any send is waited for, and the chained waits
follow the forward chain up and the backward chain down, so the exchange
cannot deadlock; every wait has the run's timeout and names the stage, the
peer and the round. All of a round's messages are received within it: between
rounds (checkpoints, metrics) nothing is in flight. Then the last stage
broadcasts the round's losses to the other stages, as the exact pipeline does.

Tags: the pipeline's are ``8 * micro-batch + kind`` with kinds 0-7, below
``8 * 2**20`` for any practical number of micro-batches (fewer than 2**20).
DSP's are ``2**23 + 2 * (batch mod 2**20) + direction`` (0 forward, 1 back),
at or above ``2**23``, below ``2**24``: the two schemes cannot collide, and a
message carries the index of its batch, so two processes that disagree about
the schedule time out with a message instead of mixing up batches.
"""

from __future__ import annotations

import time
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from ..data.shards import Shards
from ..losses import Loss
from ..objective import Batch
from .dsp import DSPMethod, DSPWorker, counters
from .mesh import _ACT, Mesh, StageObjective, _P2PLink
from .split import StageSplit

#: The first DSP tag (above every pipeline tag ``8 * m + kind``, ``m < 2**20``).
DSP_TAGS = 1 << 23
_FORWARD, _BACK = 0, 1


def dsp_tag(batch: int, direction: int) -> int:
    """The tag of batch ``batch``'s activation (``direction`` 0) or gradient (1)."""
    return DSP_TAGS + 2 * (batch % (1 << 20)) + direction


class DSPStageObjective(StageObjective):
    """One stage process of DSP: its columns, its queues, its forward and backward per round.

    Parameters are those of :class:`~consensus.layerparallel.mesh.StageObjective`,
    with ``method`` DSP's options. ``waited_s`` accumulates the wall time spent
    in waits (receives, sends, the losses' broadcast) of training rounds.
    """

    def __init__(
        self,
        module: nn.Module,
        loss: Loss,
        shards: Shards,
        *,
        split: StageSplit,
        method: DSPMethod,
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
        self.lags = method.lags(split.count)
        self.worker = DSPWorker(
            self.stage, loss if self.last else None, self.lags, recompute=method.recompute
        )
        self.steps = 0  # DSP time steps taken (training rounds)
        self.waited_s = 0.0
        self._timing = False

    def wait(self, work: Any, peer_stage: int | None, what: str) -> None:
        """As the pipeline's, timed in training rounds (``waited_s``)."""
        if not self._timing:
            return super().wait(work, peer_stage, what)
        start = time.perf_counter()
        try:
            super().wait(work, peer_stage, what)
        finally:
            self.waited_s += time.perf_counter() - start

    def gradient(
        self, X: torch.Tensor, batch: Batch, *, training: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Training: this stage's part of one DSP time step; else the exact pipeline's."""
        if not training:
            return super().gradient(X, batch, training=False)
        self._timing = True
        try:
            return self._step(X, batch)
        finally:
            self._timing = False

    def _step(self, X: torch.Tensor, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        r, s, lags, worker = self.steps, self.mesh.stage, self.lags, self.worker
        n, B = batch.x.shape[:2]
        link = _P2PLink(self, n, [B], _ACT)  # the training kind: its sends are counted
        # Receives of messages for a later round: (direction, batch, peer, work, buffer).
        later: list[tuple[int, int, int, Any, torch.Tensor]] = []
        if s > 0 and not worker.chained_in and (k := r - lags.forward[s - 1]) >= 0:
            later.append(
                (_FORWARD, k, s - 1, *self._post(s - 1, link._shape(0, s), dsp_tag(k, _FORWARD)))
            )
        if not self.last and not worker.chained_out and (k := r - lags.backward[s + 1]) >= 0:
            later.append(
                (_BACK, k, s + 1, *self._post(s + 1, link._shape(0, s + 1), dsp_tag(k, _BACK)))
            )
        worker.begin(r, batch)
        if worker.chained_in and (k := r - worker.f) >= 0:
            worker.give_activation(k, link._recv(s - 1, link._shape(0, s), dsp_tag(k, _FORWARD)))
        sent = worker.forward(X, r)
        if sent is not None and not self.last:
            link._send(s + 1, sent[1], dsp_tag(sent[0], _FORWARD))
        if worker.chained_out and (k := r - worker.b) >= 0:
            worker.give_gradient(k, link._recv(s + 1, link._shape(0, s + 1), dsp_tag(k, _BACK)))
        G = X.new_empty(X.shape)
        done = worker.backward(X, G, r)
        if done is not None and done[1] is not None:
            link._send(s - 1, done[1], dsp_tag(done[0], _BACK))
        for direction, k, peer, work, buffer in later:
            self.wait(work, peer, "receive")
            if direction == _FORWARD:
                worker.give_activation(k, buffer)
            else:
                worker.give_gradient(k, buffer)
        link.flush()
        worker.end(sent is not None, done is not None)
        self.steps += 1
        losses = done[2] if done is not None and done[2] is not None else X.new_zeros(n)
        return G, self._from_last(losses.detach())

    def _post(self, peer: int, shape: tuple[int, ...], tag: int) -> tuple[Any, torch.Tensor]:
        """A non-blocking receive from stage ``peer`` into a new buffer."""
        buffer = torch.empty(shape, dtype=self.dtype, device=self.device)
        return dist.irecv(buffer, src=self.mesh.rank_of(peer), tag=tag), buffer

    def solver_metrics(self) -> dict[str, torch.Tensor]:
        """Per agent: forwards, backwards and idle rounds, summed over its stages (cumulative).

        A collective over the agent block's stage processes (every process of
        the block takes the metrics at the same round).
        """
        n, mine = self.shards.X.shape[0], counters([self.worker])
        own = torch.tensor([[v for v in mine.values()]], dtype=torch.float64).expand(n, -1)
        total = self.row_sum(own.to(self.device))
        return {k: total[:, j] for j, k in enumerate(mine)}

    def state_dict(self) -> dict[str, Any]:
        """Counters, this stage's queues, and the time step."""
        return {**super().state_dict(), "dsp": self.worker.state_dict(), "dsp_steps": self.steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        if "dsp" in state:
            self.worker.load_state_dict(state["dsp"], self.device)
        self.steps = int(state.get("dsp_steps", 0))
