"""Watts–Strogatz small-world graphs."""

from __future__ import annotations

import networkx as nx

from .._random import int_seed
from ..errors import TopologyError
from ._checks import positive_n, probability


def small_world(
    n: int, k: int = 4, p: float = 0.1, *, seed: int = 0, max_tries: int = 100
) -> nx.Graph:
    """Ring lattice with ``k`` nearest neighbours, each edge rewired with probability ``p``.

    Redrawn until connected (networkx's ``connected_watts_strogatz_graph``).

    Examples
    --------
    >>> small_world(12, k=4, p=0.0).number_of_edges()
    24
    """
    positive_n(n, "small_world", 3)
    probability(p, "small_world")
    if not 2 <= k < n:
        raise TopologyError(f"small_world: k={k} neighbours needs 2 <= k < n={n}")
    try:
        return nx.connected_watts_strogatz_graph(n, k, p, tries=max_tries, seed=int_seed(seed, 3))
    except nx.NetworkXError as err:
        raise TopologyError(f"small_world: {err}; lower p or raise k") from None
