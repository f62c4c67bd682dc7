"""One-peer exponential graph (Ying et al., NeurIPS 2021)."""

from __future__ import annotations

import networkx as nx

from .base import Schedule


class OnePeerExponential(Schedule):
    """In round t every agent i averages with agent ``i + 2^(t mod tau)`` (mod n), ``tau = ceil(log2 n)``.

    Each round every agent receives from exactly one peer, with weights 1/2 and
    1/2 (doubly stochastic, not symmetric). For n a power of 2 the product of any
    ``log2 n`` consecutive rounds is exactly the average ``J``.

    Examples
    --------
    >>> s = OnePeerExponential(8)
    >>> s.period, sorted(s.graph(1).predecessors(0))
    (3, [0, 2])
    """

    _labels_ready = True

    def __init__(self, n: int):
        super().__init__(n, weights="attribute", name="one_peer_exponential")
        self.period = max(1, (self.n - 1).bit_length())

    def _graph(self, t: int) -> nx.Graph:
        n, hop = self.n, 1 << (t % (self.period or 1))
        graph = nx.DiGraph()
        graph.add_nodes_from(range(n))
        if n == 1:
            graph.add_edge(0, 0, weight=1.0)
            return graph
        for i in range(n):
            graph.add_edge(i, i, weight=0.5)
            graph.add_edge((i + hop) % n, i, weight=0.5)
        return graph
