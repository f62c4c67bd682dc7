"""The path graph."""

from __future__ import annotations

import networkx as nx

from ._checks import positive_n


def path(n: int) -> nx.Graph:
    """Path from node 0 to node n-1 (node i linked to i + 1): the worst-mixing connected graph.

    Examples
    --------
    >>> path(3).number_of_edges()
    2
    """
    positive_n(n, "path")
    return nx.path_graph(n)
