"""The ring (cycle) graph."""

from __future__ import annotations

import networkx as nx

from ._checks import positive_n


def ring(n: int) -> nx.Graph:
    """Cycle on ``n`` nodes: node i is linked to i - 1 and i + 1 (mod n).

    Examples
    --------
    >>> sorted(ring(4).edges())
    [(0, 1), (0, 3), (1, 2), (2, 3)]
    """
    positive_n(n, "ring")
    return nx.cycle_graph(n) if n > 2 else nx.path_graph(n)
