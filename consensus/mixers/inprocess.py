"""In-process mixer: all agents in one tensor, gossip as one matrix product."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from topologies import Schedule

from .base import Mixer, mean_fanout
from .product import GossipProduct


class InProcessMixer(Mixer):
    """``W_t x`` as one product: a dense GEMM, or O(nnz * d) for a sparse ``W_t`` (see :class:`GossipProduct`).

    Parameters
    ----------
    schedule : Schedule
        The topology; ``schedule.weights(t)`` is round t's matrix.
    dtype, device
        Where the matrices live (the parameters' dtype and device).

    Examples
    --------
    >>> import topologies
    >>> mixer = InProcessMixer(topologies.get("complete", 4), dtype=torch.float64)
    >>> mixer.mix(0, torch.arange(4.0, dtype=torch.float64)[:, None])[0].ravel().tolist()
    [1.5, 1.5, 1.5, 1.5]
    """

    def __init__(
        self,
        schedule: Schedule,
        *,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device = "cpu",
    ):
        super().__init__()
        self.schedule = schedule
        self.n_total = schedule.n
        self.agent_ids = np.arange(schedule.n)
        self.dtype, self.device = dtype, torch.device(device)
        self._cached: tuple[int, GossipProduct, float] | None = None

    def matrix(self, t: int) -> tuple[GossipProduct, float]:
        """Round t's product ``x -> W_t x``, and the mean number of out-neighbours."""
        key = 0 if self.schedule.is_static else t
        if self._cached is None or self._cached[0] != key:
            W = sp.csr_array(self.schedule.weights(t))
            product = GossipProduct(W, dtype=self.dtype, device=self.device)
            self._cached = (key, product, mean_fanout(W))
        return self._cached[1], self._cached[2]

    def mix(self, t: int, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """One product per tensor (concatenating them first would cost a pass over each)."""
        W, fanout = self.matrix(t)
        out = tuple(W(x.reshape(x.shape[0], -1)).reshape(x.shape) for x in tensors)
        width = sum(x[0].numel() for x in tensors)
        self.bytes_sent += fanout * width * tensors[0].element_size()
        return out

    def global_sum(self, x: torch.Tensor) -> torch.Tensor:
        """Sum over the rows (all agents are here)."""
        return x.sum(0)
