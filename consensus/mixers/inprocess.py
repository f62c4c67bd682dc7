"""In-process mixer: all agents in one tensor, gossip as one (sparse) matrix product."""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
import torch

from topologies import Schedule

from .base import Mixer, mean_fanout

_DENSE_MAX_N = 128


class InProcessMixer(Mixer):
    """``W_t x`` as a dense product for small n and a sparse CSR product (O(nnz * d)) beyond.

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
        self._cached: tuple[int, torch.Tensor, float] | None = None

    def matrix(self, t: int) -> tuple[torch.Tensor, float]:
        """Round t's matrix as a torch tensor, and the mean number of out-neighbours."""
        key = 0 if self.schedule.is_static else t
        if self._cached is not None and self._cached[0] == key:
            return self._cached[1], self._cached[2]
        W = sp.csr_array(self.schedule.weights(t))
        fanout = mean_fanout(W)
        if self.n_total <= _DENSE_MAX_N:
            M = torch.as_tensor(W.toarray(), dtype=self.dtype, device=self.device)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta"
                M = self._csr(W)
        self._cached = (key, M, fanout)
        return M, fanout

    def _csr(self, W: sp.csr_array) -> torch.Tensor:
        return torch.sparse_csr_tensor(
            torch.as_tensor(W.indptr, dtype=torch.int64),
            torch.as_tensor(W.indices, dtype=torch.int64),
            torch.as_tensor(W.data, dtype=self.dtype),
            size=W.shape,
            check_invariants=False,
        ).to(self.device)

    def mix(self, t: int, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """One product per tensor (concatenating them first would cost a pass over each)."""
        M, fanout = self.matrix(t)
        out = tuple((M @ x.reshape(x.shape[0], -1)).reshape(x.shape) for x in tensors)
        width = sum(x[0].numel() for x in tensors)
        self.bytes_sent += fanout * width * tensors[0].element_size()
        return out

    def global_sum(self, x: torch.Tensor) -> torch.Tensor:
        """Sum over the rows (all agents are here)."""
        return x.sum(0)
