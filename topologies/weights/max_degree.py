"""Max-degree weights."""

from __future__ import annotations

import networkx as nx
import numpy as np
import scipy.sparse as sp

from ._sparse import edge_arrays, require_undirected, with_remainder_diagonal


def max_degree_weights(graph: nx.Graph) -> sp.csr_array:
    """Uniform edge weight ``1 / (d_max + 1)``; the rest on the diagonal (always > 0).

    Examples
    --------
    >>> import networkx as nx
    >>> max_degree_weights(nx.star_graph(3)).toarray()[1].tolist()
    [0.25, 0.75, 0.0, 0.0]
    """
    require_undirected(graph, "max_degree")
    n = graph.number_of_nodes()
    src, dst = edge_arrays(graph)
    d_max = float(np.bincount(src, minlength=n).max(initial=0))
    vals = np.full(src.shape, 1.0 / (d_max + 1.0))
    return with_remainder_diagonal(n, dst, src, vals)
