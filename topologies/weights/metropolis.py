"""Metropolis–Hastings weights."""

from __future__ import annotations

import networkx as nx
import numpy as np
import scipy.sparse as sp

from ._sparse import edge_arrays, require_undirected, with_remainder_diagonal


def metropolis_weights(graph: nx.Graph) -> sp.csr_array:
    """Metropolis–Hastings weights: ``w_ij = 1 / (1 + max(d_i, d_j))`` on each edge.

    Symmetric and doubly stochastic on any undirected graph, with a positive
    diagonal ``w_ii = 1 - sum_j w_ij``. Cost O(edges).

    Examples
    --------
    >>> import networkx as nx
    >>> metropolis_weights(nx.cycle_graph(4)).toarray()[0].round(3).tolist()
    [0.333, 0.333, 0.0, 0.333]
    """
    require_undirected(graph, "metropolis")
    n = graph.number_of_nodes()
    src, dst = edge_arrays(graph)
    deg = np.bincount(src, minlength=n)
    vals = 1.0 / (1.0 + np.maximum(deg[src], deg[dst]))
    return with_remainder_diagonal(n, dst, src, vals)
