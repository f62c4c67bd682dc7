"""The complete graph."""

from __future__ import annotations

import networkx as nx

from ._checks import positive_n


def complete(n: int) -> nx.Graph:
    """Every pair linked; with Metropolis weights one round of gossip is the exact average.

    Examples
    --------
    >>> complete(5).number_of_edges()
    10
    """
    positive_n(n, "complete")
    return nx.complete_graph(n)
