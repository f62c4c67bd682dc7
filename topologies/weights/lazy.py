"""Lazy weights."""

from __future__ import annotations

import networkx as nx
import scipy.sparse as sp

from ._sparse import require_undirected
from .metropolis import metropolis_weights


def lazy(W: sp.sparray) -> sp.csr_array:
    """``(I + W) / 2``: same stochasticity as ``W``, eigenvalues moved into [0, 1].

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> lazy(sp.csr_array([[0.0, 1.0], [1.0, 0.0]])).toarray().tolist()
    [[0.5, 0.5], [0.5, 0.5]]
    """
    n = W.shape[0]
    return sp.csr_array((sp.eye_array(n, format="csr") + sp.csr_array(W)) * 0.5)


def lazy_metropolis_weights(graph: nx.Graph) -> sp.csr_array:
    """Lazy Metropolis weights ``(I + W_metropolis) / 2`` (EXTRA's and NIDS's ``W~``)."""
    require_undirected(graph, "lazy")
    return lazy(metropolis_weights(graph))
