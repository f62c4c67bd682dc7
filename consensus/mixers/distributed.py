"""Gossip over torch.distributed: each process hosts a contiguous block of agents.

Every rank derives the same ``W_t`` from the seeded schedule, so each knows,
without asking, which of its rows every peer needs this round. A round is one
flat buffer per rank pair and direction (all parameter tensors concatenated),
sent with point-to-point messages; every wait has a timeout that ends the run
with a message naming the round and the peer.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
import torch.distributed as dist

from topologies import Schedule

from .base import Mixer, mean_fanout

_DENSE_MAX_COLS = 4096


class ExchangeTimeout(RuntimeError):
    """A peer did not answer in time (it died, or the ranks disagree about the topology)."""


@dataclass
class _Plan:
    """Who sends what to whom in one round, from this rank's point of view."""

    send: dict[int, torch.Tensor]  # peer -> local row indices to send
    recv: dict[int, int]  # peer -> number of rows to receive
    matrix: (
        torch.Tensor
    )  # (n_local, n_local + received rows), columns = own rows then peers' in rank order
    fanout: float
    # peer -> (start, stop) when the rows it needs are a contiguous range: sent as a view, no copy
    send_range: dict[int, tuple[int, int]] = field(default_factory=dict)
    # dense matrix as (own columns, received columns): one tensor is mixed without copying its rows
    split: tuple[torch.Tensor, torch.Tensor] | None = None


def timed_wait(work: Any, timeout: datetime.timedelta, what: str, hint: str) -> None:
    """Wait for ``work``; a failure or a time-out raises :class:`ExchangeTimeout` saying ``what`` and ``hint``."""
    try:
        ok = work.wait(timeout)
    except Exception as err:  # gloo raises on timeout or a dead peer
        raise ExchangeTimeout(f"{what} failed ({str(err).splitlines()[0]}); {hint}") from None
    if ok is False:
        raise ExchangeTimeout(
            f"{what} did not finish within {timeout.total_seconds():.0f}s; {hint}"
        )


def _what(peer: int) -> str:
    return f"the exchange with rank {peer}" if peer >= 0 else "a collective exchange"


def contiguous_blocks(n: int, world: int) -> list[np.ndarray]:
    """Agents ``0..n-1`` split into ``world`` contiguous blocks (sizes differ by at most one)."""
    return [np.asarray(b, dtype=np.int64) for b in np.array_split(np.arange(n), world)]


class DistributedMixer(Mixer):
    """The rows of ``W_t x`` owned by this rank, exchanged with the ranks hosting in-neighbours.

    Parameters
    ----------
    schedule : Schedule
        The topology (identical on every rank: same spec, n and seed).
    blocks : list of arrays
        Agent ids hosted by each rank of ``group`` (contiguous, in rank order).
    group : ProcessGroup, optional
        The process group of the agent dimension (default: the world). An
        agent spanning several processes (layer-parallel stages) passes the
        group of its stage.
    device : torch.device
        Where buffers live (``cuda`` for nccl).
    timeout : float
        Seconds any single wait may take before :class:`ExchangeTimeout`.
    """

    def __init__(
        self,
        schedule: Schedule,
        blocks: list[np.ndarray],
        *,
        group: dist.ProcessGroup | None = None,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
        timeout: float = 300.0,
    ):
        super().__init__()
        self.schedule, self.group = schedule, group
        self.rank = dist.get_rank(group)
        self.world = dist.get_world_size(group)
        if len(blocks) != self.world:
            raise ValueError(f"{len(blocks)} blocks for {self.world} ranks")
        self.blocks = blocks
        self.agent_ids = blocks[self.rank]
        self.n_total = schedule.n
        self.owner = np.empty(schedule.n, dtype=np.int64)
        for r, b in enumerate(blocks):
            self.owner[b] = r
        self.device, self.dtype = torch.device(device), dtype
        self.timeout = datetime.timedelta(seconds=timeout)
        self.nccl = dist.get_backend(group) == "nccl"
        self.wire_bytes = 0.0
        self._plan_cache: tuple[int, _Plan] | None = None
        self._round = 0  # the last mixing round, for messages
        self._workspace: torch.Tensor | None = None  # own rows then received rows, reused by mix

    def _global_rank(self, r: int) -> int:
        return r if self.group is None else dist.get_global_rank(self.group, r)

    def plan(self, t: int) -> _Plan:
        """Round t's exchange plan (cached for static schedules)."""
        key = 0 if self.schedule.is_static else t
        if self._plan_cache is not None and self._plan_cache[0] == key:
            return self._plan_cache[1]
        W = sp.csr_array(self.schedule.weights(t))
        mine = self.agent_ids
        lo, hi = int(mine[0]), int(mine[-1]) + 1
        rows = sp.csr_array(W[lo:hi])
        needed = np.unique(rows.indices)
        order = [mine]
        recv: dict[int, int] = {}
        for q in range(self.world):
            if q == self.rank:
                continue
            cols = needed[self.owner[needed] == q]
            if len(cols):
                order.append(cols)
                recv[q] = len(cols)
        send: dict[int, torch.Tensor] = {}
        send_range: dict[int, tuple[int, int]] = {}
        for q in range(self.world):
            if q == self.rank:
                continue
            b = self.blocks[q]
            theirs = sp.csr_array(W[int(b[0]) : int(b[-1]) + 1])
            cols = np.unique(theirs.indices)
            cols = cols[(cols >= lo) & (cols < hi)]
            if len(cols):
                send[q] = torch.as_tensor(cols - lo, dtype=torch.int64, device=self.device)
                if cols[-1] - cols[0] + 1 == len(cols):
                    send_range[q] = (int(cols[0]) - lo, int(cols[-1]) + 1 - lo)
        columns = np.concatenate(order)
        local = sp.csr_array(rows[:, columns])
        if local.shape[1] <= _DENSE_MAX_COLS:
            matrix = torch.as_tensor(local.toarray(), dtype=self.dtype, device=self.device)
        else:
            matrix = torch.sparse_csr_tensor(
                torch.as_tensor(local.indptr), torch.as_tensor(local.indices), torch.as_tensor(local.data, dtype=self.dtype),
                size=local.shape, check_invariants=False,
            ).to(self.device)  # fmt: skip
        split = None
        if not matrix.is_sparse_csr and recv:
            split = (matrix[:, : len(mine)].contiguous(), matrix[:, len(mine) :].contiguous())
        plan = _Plan(send, recv, matrix, mean_fanout(W), send_range, split)
        self._plan_cache = (key, plan)
        return plan

    def _wait(self, works: list[tuple[int, Any]], t: int) -> None:
        for peer, work in works:
            timed_wait(
                work, self.timeout, f"round {t}: {_what(peer)}",
                "a peer died or the ranks disagree about the topology",
            )  # fmt: skip

    def mix(self, t: int, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        flat = [x.reshape(x.shape[0], -1) for x in tensors]
        widths = [f.shape[1] for f in flat]
        self._round = t
        plan = self.plan(t)
        inbox: dict[int, torch.Tensor] = {}
        full: torch.Tensor | None = None
        n_recv = sum(plan.recv.values())
        if len(flat) == 1 and (plan.split is not None or not n_recv):
            # One tensor and a dense matrix: its rows are sent and multiplied where they are; only
            # the received rows (in rank order) go to a buffer reused every round.
            buffer = flat[0].contiguous()
            if n_recv:
                received = self._buffer(n_recv, buffer.shape[1], buffer.dtype, buffer.device)
            row = 0
        else:
            # Own rows, then the received rows in rank order, in one buffer reused every round:
            # receives land in place and the product reads it as is (no torch.cat, no allocation).
            dtype = flat[0].dtype
            for f in flat[1:]:
                dtype = torch.promote_types(dtype, f.dtype)
            n_local = flat[0].shape[0]
            full = received = self._buffer(n_local + n_recv, sum(widths), dtype, flat[0].device)
            buffer = full[:n_local]
            torch.cat(flat, dim=1, out=buffer)
            row = n_local
        for q in sorted(plan.recv):
            inbox[q], row = received[row : row + plan.recv[q]], row + plan.recv[q]
        width = buffer.shape[1]
        outbox = {
            q: buffer[slice(*plan.send_range[q])]  # a contiguous range of rows: sent as a view
            if q in plan.send_range
            else buffer.index_select(0, idx)
            for q, idx in plan.send.items()
        }
        tag = t % (1 << 20)
        works: list[tuple[int, Any]]
        if self.nccl:
            ops = [
                dist.P2POp(dist.irecv, inbox[q], self._global_rank(q), self.group, tag)
                for q in sorted(inbox)
            ]
            ops += [
                dist.P2POp(dist.isend, outbox[q], self._global_rank(q), self.group, tag)
                for q in sorted(outbox)
            ]
            works = (
                [(-1, w) for w in dist.batch_isend_irecv(ops)] if ops else []
            )  # nccl: one batched call
        else:
            # Receives first, then sends, each non-blocking: no ordering between pairs can deadlock.
            works = [
                (q, dist.irecv(inbox[q], src=self._global_rank(q), group=self.group, tag=tag))
                for q in sorted(inbox)
            ]
            works += [
                (q, dist.isend(outbox[q], dst=self._global_rank(q), group=self.group, tag=tag))
                for q in sorted(outbox)
            ]
        try:
            self._wait(works, t)
        except ExchangeTimeout:
            self._workspace = None  # a receive may still be writing into it
            raise
        # A new tensor: nothing returned aliases the workspace.
        if full is not None:
            mixed = plan.matrix @ full
        elif plan.split is not None:
            mixed = (plan.split[0] @ buffer).addmm_(plan.split[1], received)
        else:
            mixed = plan.matrix @ buffer
        self.bytes_sent += plan.fanout * width * buffer.element_size()
        self.wire_bytes += sum(o.numel() * o.element_size() for o in outbox.values())
        parts = torch.split(mixed, widths, dim=1)
        return tuple(p.reshape(x.shape) for p, x in zip(parts, tensors, strict=True))

    def _buffer(
        self, rows: int, width: int, dtype: torch.dtype, device: torch.device
    ) -> torch.Tensor:
        """The first ``rows`` rows of the workspace, reallocated only when it does not fit."""
        ws = self._workspace
        if (
            ws is None
            or ws.shape[0] < rows
            or (ws.shape[1], ws.dtype, ws.device) != (width, dtype, device)
        ):
            ws = self._workspace = torch.empty(rows, width, dtype=dtype, device=device)
        return ws[:rows]

    def global_sum(self, x: torch.Tensor) -> torch.Tensor:
        total = x.sum(0).contiguous()
        work = dist.all_reduce(total, group=self.group, async_op=True)
        self._wait([(-1, work)], self._round)
        return total
