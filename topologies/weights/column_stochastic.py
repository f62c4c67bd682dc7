"""Column-stochastic weights for push-sum on directed graphs."""

from __future__ import annotations

import networkx as nx
import numpy as np
import scipy.sparse as sp

from ._sparse import csr_from_entries, edge_arrays


def column_stochastic_weights(graph: nx.Graph) -> sp.csr_array:
    """Each node splits its mass equally among itself and its out-neighbours.

    ``P[j, i] = 1 / (out_degree(i) + 1)`` for every edge ``i -> j`` and
    ``P[i, i]`` likewise, so every column sums to one (push-sum / SGP). On a
    regular graph (the exponential graph, a ring) it is doubly stochastic too.

    Examples
    --------
    >>> import networkx as nx
    >>> column_stochastic_weights(nx.DiGraph([(0, 1), (0, 2), (1, 0), (2, 0)])).toarray()[:, 0].round(3).tolist()
    [0.333, 0.333, 0.333]
    """
    n = graph.number_of_nodes()
    src, dst = edge_arrays(graph)
    share = 1.0 / (np.bincount(src, minlength=n) + 1.0)
    rows = np.concatenate([dst, np.arange(n)])
    cols = np.concatenate([src, np.arange(n)])
    vals = np.concatenate([share[src], share])
    return csr_from_entries(n, rows, cols, vals)
