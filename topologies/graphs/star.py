"""The star graph."""

from __future__ import annotations

import networkx as nx

from ._checks import positive_n


def star(n: int) -> nx.Graph:
    """Star with hub 0 linked to every other node (a parameter server in gossip form).

    Examples
    --------
    >>> dict(star(4).degree())[0]
    3
    """
    positive_n(n, "star")
    return nx.star_graph(n - 1)
