"""The hypercube graph."""

from __future__ import annotations

import networkx as nx

from ..errors import TopologyError
from ._checks import positive_n


def hypercube(n: int) -> nx.Graph:
    """Hypercube on ``n = 2**k`` nodes: i and j are linked when they differ in one bit.

    Examples
    --------
    >>> sorted(hypercube(4).edges())
    [(0, 1), (0, 2), (1, 3), (2, 3)]
    """
    positive_n(n, "hypercube")
    if n & (n - 1):
        raise TopologyError(f"hypercube needs a power of 2 agents, got n={n}; use n=2**k")
    k = n.bit_length() - 1
    graph = nx.Graph()
    graph.add_nodes_from(range(n))
    graph.add_edges_from((i, i ^ (1 << b)) for i in range(n) for b in range(k) if i < i ^ (1 << b))
    return graph
