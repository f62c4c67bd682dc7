"""Spectral gaps: how fast gossip with W mixes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .checks import Matrix, is_symmetric

_DENSE_LIMIT = 2048


def _deviation_norm(W: Matrix) -> float:
    """``||(I - J) W (I - J)||_2``: the contraction of ``W`` orthogonal to the ones vector.

    Equals ``||W - J||_2`` for a doubly stochastic ``W``.
    """
    n = W.shape[0]
    if n == 1:
        return 0.0
    if n <= _DENSE_LIMIT:
        A = sp.csr_array(W).toarray() if sp.issparse(W) else np.asarray(W, dtype=np.float64)
        A = A - A.mean(axis=0, keepdims=True)
        A = A - A.mean(axis=1, keepdims=True)
        if is_symmetric(A):
            return float(np.abs(np.linalg.eigvalsh(A)).max())
        return float(np.linalg.norm(A, 2))
    S = sp.csr_array(W)

    def center(v: np.ndarray) -> np.ndarray:
        return v - v.mean(axis=0, keepdims=True)

    op = spla.LinearOperator(
        (n, n),
        matvec=lambda v: center(S @ center(v)),
        rmatvec=lambda v: center(S.T @ center(v)),
        dtype=np.float64,
    )
    if is_symmetric(S):
        return float(np.abs(spla.eigsh(op, k=1, which="LM", return_eigenvectors=False)).max())
    return float(spla.svds(op, k=1, return_singular_vectors=False)[0])


def spectral_gap(W: Matrix) -> float:
    """Spectral gap ``1 - ||W - J||_2``, with ``J = 11^T / n`` the exact average.

    For a symmetric ``W`` this is one minus the second largest eigenvalue
    modulus. After ``k`` gossip rounds the distance to consensus shrinks by at
    least ``(1 - gap)^k``; 1 means one round averages exactly, 0 means no mixing.
    Dense for ``n <= 2048``, Lanczos beyond. A gap within ``1e-12`` of zero (a
    disconnected round, up to rounding) is returned as exactly ``0.0``.

    Examples
    --------
    >>> import math, networkx as nx, topologies
    >>> gap = spectral_gap(topologies.metropolis_weights(nx.cycle_graph(8)))
    >>> abs(gap - (1 - (1 / 3 + 2 / 3 * math.cos(2 * math.pi / 8)))) < 1e-12
    True
    """
    gap = 1.0 - _deviation_norm(W)
    return 0.0 if abs(gap) < 1e-12 else gap


def product(matrices: Sequence[Matrix]) -> sp.csr_array:
    """The product of mixing matrices, the first applied first.

    ``W_{k-1} ... W_1 W_0`` for ``matrices = [W_0, ..., W_{k-1}]``.
    """
    out = sp.csr_array(matrices[0])
    for W in matrices[1:]:
        out = sp.csr_array(sp.csr_array(W) @ out)
    return out


def window_contraction(schedule: object, start: int, length: int) -> float:
    """Contraction of the window of ``B = length`` rounds that starts at round ``t = start``.

    The norm ``||(I - J) W_{t+B-1} ... W_t (I - J)||_2``, with ``J`` the exact average.
    Below 1 means the window mixes; 0 means it averages exactly (the one-peer
    exponential graph over ``log2 n`` rounds).

    Examples
    --------
    >>> import topologies
    >>> s = topologies.get("one_peer_exponential", 8)
    >>> window_contraction(s, start=5, length=3) < 1e-12
    True
    """
    weights = schedule.weights  # type: ignore[attr-defined]
    return _deviation_norm(product([weights(t) for t in range(start, start + length)]))
