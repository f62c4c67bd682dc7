"""The mixer seam: the only way algorithms communicate."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
import scipy.sparse as sp
import torch


def mean_fanout(W: sp.sparray) -> float:
    """Average number of peers an agent sends to under ``W`` (off-diagonal nonzeros / n)."""
    W = sp.csr_array(W)
    return float(W.nnz - np.count_nonzero(W.diagonal())) / W.shape[0]


class Mixer(ABC):
    """Gossip ``W_t x`` and exact averages over the agent dimension.

    Every tensor has the hosted agents as rows (``(n_local, ...)``). ``mix``
    takes several tensors so that an implementation can send them as one flat
    buffer per peer per round.
    """

    #: Global ids of the hosted agents (rows of every tensor), and the total count.
    agent_ids: np.ndarray
    n_total: int

    def __init__(self) -> None:
        self.bytes_sent = 0.0

    @abstractmethod
    def mix(self, t: int, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``W_t x`` for each tensor (rows of the hosted agents)."""

    @abstractmethod
    def global_sum(self, x: torch.Tensor) -> torch.Tensor:
        """Sum over all agents of the rows of ``x`` (every process gets it): shape ``x.shape[1:]``."""

    def global_mean(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Every row replaced by the exact average over all agents (an all-reduce)."""
        out = []
        for x in tensors:
            mean = self.global_sum(x) / self.n_total
            out.append(mean.unsqueeze(0).expand_as(x).clone())
        self.bytes_sent += self._allreduce_bytes(tensors)
        return tuple(out)

    def _allreduce_bytes(self, tensors: tuple[torch.Tensor, ...]) -> float:
        # A ring all-reduce sends 2 (n - 1) / n of the buffer per agent.
        size = sum(x[0].numel() * x.element_size() for x in tensors)
        return 2.0 * (self.n_total - 1) / max(self.n_total, 1) * size
