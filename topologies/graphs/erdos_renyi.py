"""Erdős–Rényi G(n, p) graphs, redrawn until connected."""

from __future__ import annotations

import math

import networkx as nx

from .._random import int_seed
from ..errors import TopologyError
from ._checks import positive_n, probability


def erdos_renyi(
    n: int, p: float = 0.3, *, seed: int = 0, max_tries: int = 100, connected: bool = True
) -> nx.Graph:
    """G(n, p): each pair linked independently with probability ``p``.

    With ``connected=True`` (the default) the graph is redrawn, at most
    ``max_tries`` times, until it is connected; ``p`` around ``2 log(n) / n`` or
    more makes that likely.

    Examples
    --------
    >>> import networkx as nx
    >>> nx.is_connected(erdos_renyi(20, p=0.3, seed=0))
    True
    """
    positive_n(n, "erdos_renyi")
    probability(p, "erdos_renyi")
    for attempt in range(max_tries):
        graph = nx.gnp_random_graph(n, p, seed=int_seed(seed, 2, attempt))
        if not connected or nx.is_connected(graph):
            return graph
    raise TopologyError(
        f"erdos_renyi: G({n}, p={p}) was disconnected in all {max_tries} draws; increase p "
        f"(about 2*ln(n)/n = {2 * math.log(max(n, 2)) / n:.3g} or more)"
    )
