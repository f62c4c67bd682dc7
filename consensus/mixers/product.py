"""The gossip product ``W x`` for one mixing matrix, dense or sparse by its density."""

from __future__ import annotations

import scipy.sparse as sp
import torch
import torch.nn.functional as F

#: A weighted gather-sum costs about this many times a dense GEMM per multiply-add (measured on
#: CPU): below a density of 1/_SPARSE_COST the sparse product is the faster one.
_SPARSE_COST = 8


class GossipProduct:
    """``W @ x`` for a fixed ``W`` (rows: receiving agents, columns: the rows of ``x``).

    Dense ``W`` (a complete graph, a small exponential graph) is one GEMM, cost
    ``O(rows * cols * d)``. Sparse ``W`` (a ring, a torus, a random regular
    graph) is a weighted gather-sum of the neighbours' rows, cost
    ``O(nnz * d)``, through ``embedding_bag`` in sum mode: one fused kernel
    that reads each neighbour row and writes each result row once (torch's
    sparse CSR product is slower on the CPU, and needs no CSR beta warning).
    Each row is summed over its neighbours in column order, so the same
    rows give the same bits whichever block of agents computes them.

    Examples
    --------
    >>> import numpy as np
    >>> W = sp.csr_array(np.array([[0.5, 0.5, 0.0], [0.0, 0.5, 0.5], [0.5, 0.0, 0.5]]))
    >>> GossipProduct(W, dtype=torch.float64)(torch.tensor([[1.0], [3.0], [5.0]], dtype=torch.float64))
    tensor([[2.],
            [4.],
            [3.]], dtype=torch.float64)
    """

    def __init__(
        self,
        W: sp.csr_array,
        *,
        dtype: torch.dtype,
        device: str | torch.device = "cpu",
        sparse: bool | None = None,
    ):
        W = sp.csr_array(W)
        W.sort_indices()
        # A block of rows takes the whole matrix's choice, so every block computes alike.
        self.sparse = self.prefers_sparse(W) if sparse is None else sparse
        if self.sparse:
            self.indices = torch.as_tensor(W.indices, dtype=torch.int64, device=device)
            self.offsets = torch.as_tensor(W.indptr[:-1], dtype=torch.int64, device=device)
            self.weights = torch.as_tensor(W.data, dtype=dtype, device=device)
        else:
            self.dense = torch.as_tensor(W.toarray(), dtype=dtype, device=device)

    @staticmethod
    def prefers_sparse(W: sp.csr_array) -> bool:
        """Whether the sparse product is the faster one for ``W``."""
        rows, cols = W.shape
        return W.nnz * _SPARSE_COST < rows * cols

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """``W @ x`` for ``x`` of shape ``(cols, k)``."""
        if not self.sparse:
            return self.dense @ x
        return F.embedding_bag(
            self.indices, x, self.offsets, mode="sum", per_sample_weights=self.weights
        )

    def tensors(self) -> list[torch.Tensor]:
        """The tensors holding ``W`` (memory accounting)."""
        return [self.indices, self.offsets, self.weights] if self.sparse else [self.dense]
