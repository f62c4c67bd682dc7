"""User weights from the ``weight`` edge attribute."""

from __future__ import annotations

import networkx as nx
import numpy as np
import scipy.sparse as sp

from ..errors import TopologyError


def attribute_weights(graph: nx.Graph, key: str = "weight") -> sp.csr_array:
    """Weights read from edge attribute ``key``; self-loops give the diagonal.

    An edge ``j -> i`` with weight ``w`` means agent i puts weight ``w`` on j's
    value (an undirected edge counts both ways). A node without a self-loop gets
    the remainder ``1 - sum_j w_ij`` so its row sums to one. The result is not
    checked here; the schedule checks it.

    Examples
    --------
    >>> import networkx as nx
    >>> G = nx.Graph()
    >>> G.add_edge(0, 1, weight=0.25)
    >>> attribute_weights(G).toarray().tolist()
    [[0.75, 0.25], [0.25, 0.75]]
    """
    n = graph.number_of_nodes()
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    has_loop = np.zeros(n, dtype=bool)
    for u, v, data in graph.edges(data=True):
        if key not in data:
            raise TopologyError(
                f"weights=attribute: edge ({u}, {v}) has no '{key}' attribute; set it on every edge"
            )
        try:
            w = float(data[key])
        except (TypeError, ValueError):
            raise TopologyError(
                f"weights=attribute: edge ({u}, {v}) has weight {data[key]!r}, not a number"
            ) from None
        if u == v:
            has_loop[u] = True
            rows.append(u)
            cols.append(u)
            vals.append(w)
            continue
        pairs = [(v, u)] if graph.is_directed() else [(v, u), (u, v)]
        for i, j in pairs:
            rows.append(i)
            cols.append(j)
            vals.append(w)
    W = sp.csr_array((np.array(vals, dtype=np.float64), (rows, cols)), shape=(n, n))
    remainder = np.where(has_loop, 0.0, 1.0 - np.asarray(W.sum(axis=1)).ravel())
    return sp.csr_array(W + sp.diags_array(remainder, format="csr"))
