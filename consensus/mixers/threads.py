"""Agents split into blocks hosted by threads of one process, exchanging through shared memory.

Each thread runs its own :class:`~consensus.engine.Engine` on a block of agents,
exactly as a process would under torchrun, so this mixer shows (and tests) that
algorithms only ever touch their own rows. Exchanges are two barriers per call.
"""

from __future__ import annotations

import threading

import numpy as np
import scipy.sparse as sp
import torch

from topologies import Schedule

from .base import Mixer, mean_fanout
from .product import GossipProduct


class SharedBoard:
    """Where the blocks of one run post their buffers; one slot per block."""

    def __init__(self, blocks: int, timeout: float = 120.0):
        self.slots: list[torch.Tensor | None] = [None] * blocks
        self.barrier = threading.Barrier(blocks, timeout=timeout)

    def exchange(self, rank: int, buffer: torch.Tensor) -> list[torch.Tensor]:
        """Post ``buffer``, wait for everyone, return all buffers in block order."""
        self.slots[rank] = buffer
        self.barrier.wait()
        out = [s for s in self.slots if s is not None]
        self.barrier.wait()
        return out


class ThreadBlockMixer(Mixer):
    """The rows ``agent_ids`` of ``W_t x``, computed from every block's posted rows.

    Parameters
    ----------
    schedule : Schedule
        The topology.
    blocks : list of arrays
        Agent ids of every block, in order (their concatenation is ``0..n-1``).
    rank : int
        Which block this mixer serves.
    board : SharedBoard
        Shared by the mixers of all blocks.
    """

    def __init__(
        self,
        schedule: Schedule,
        blocks: list[np.ndarray],
        rank: int,
        board: SharedBoard,
        *,
        dtype: torch.dtype = torch.float32,
    ):
        super().__init__()
        self.schedule, self.board, self.rank, self.dtype = schedule, board, rank, dtype
        self.n_total = schedule.n
        self.agent_ids = np.asarray(blocks[rank])
        self._order = np.concatenate(blocks)
        self._cached: tuple[int, GossipProduct, float] | None = None

    def mix(self, t: int, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        flat = [x.reshape(x.shape[0], -1) for x in tensors]
        widths = [f.shape[1] for f in flat]
        buffer = torch.cat(flat, dim=1)
        everyone = torch.cat(self.board.exchange(self.rank, buffer))
        rows_W, fanout = self._rows(t, buffer.dtype)
        rows = rows_W(everyone)
        self.bytes_sent += fanout * buffer.shape[1] * buffer.element_size()
        parts = torch.split(rows, widths, dim=1)
        return tuple(p.reshape(x.shape) for p, x in zip(parts, tensors, strict=True))

    def _rows(self, t: int, dtype: torch.dtype) -> tuple[GossipProduct, float]:
        """This block's rows of W_t (columns in block order) and the mean fanout, cached when static."""
        key = 0 if self.schedule.is_static else t
        if self._cached is None or self._cached[0] != key:
            W = sp.csr_array(self.schedule.weights(t))
            rows = GossipProduct(
                W[self.agent_ids][:, self._order],
                dtype=dtype,
                sparse=GossipProduct.prefers_sparse(W),
            )
            self._cached = (key, rows, mean_fanout(W))
        return self._cached[1], self._cached[2]

    def global_sum(self, x: torch.Tensor) -> torch.Tensor:
        # Sum in agent order so the result matches the single-block simulator bit for bit.
        everyone = torch.cat(self.board.exchange(self.rank, x.reshape(x.shape[0], -1)))
        return everyone.sum(0).reshape(x.shape[1:])
