"""Static exponential graphs (Ying et al., NeurIPS 2021)."""

from __future__ import annotations

import networkx as nx

from ._checks import positive_n


def _hops(n: int) -> list[int]:
    return [1 << k for k in range(max(n - 1, 1).bit_length()) if (1 << k) < n]


def exponential(n: int) -> nx.DiGraph:
    """Directed exponential graph: edges i -> i + 2^k (mod n) for every 2^k < n.

    Every node has in- and out-degree ``ceil(log2 n)``, so the uniform weights
    ``1/(degree + 1)`` are doubly stochastic; spectral gap O(1/log2 n).

    Examples
    --------
    >>> sorted(exponential(4).successors(0))
    [1, 2]
    """
    positive_n(n, "exponential")
    graph = nx.DiGraph()
    graph.add_nodes_from(range(n))
    graph.add_edges_from((i, (i + h) % n) for i in range(n) for h in _hops(n) if (i + h) % n != i)
    return graph


def symmetric_exponential(n: int) -> nx.Graph:
    """Undirected version of :func:`exponential`: i -- i +/- 2^k (mod n).

    Examples
    --------
    >>> sorted(symmetric_exponential(8).neighbors(0))
    [1, 2, 4, 6, 7]
    """
    positive_n(n, "symmetric_exponential")
    return nx.Graph(exponential(n).to_undirected())
