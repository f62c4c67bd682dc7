"""Random geometric graphs (sensor networks)."""

from __future__ import annotations

import math

import networkx as nx

from .._random import int_seed
from ..errors import TopologyError
from ._checks import positive_n


def random_geometric(
    n: int, radius: float | None = None, *, seed: int = 0, max_tries: int = 100
) -> nx.Graph:
    """Nodes uniform in the unit square, linked when closer than ``radius``.

    The default radius ``sqrt(2 ln n / n)`` is above the connectivity threshold.
    Redrawn until connected. Node positions are kept in the ``pos`` attribute.

    Examples
    --------
    >>> import networkx as nx
    >>> nx.is_connected(random_geometric(30, seed=0))
    True
    """
    positive_n(n, "random_geometric")
    r = math.sqrt(2.0 * math.log(max(n, 2)) / n) if radius is None else radius
    if r <= 0:
        raise TopologyError(f"random_geometric: radius={r} must be positive")
    for attempt in range(max_tries):
        graph = nx.random_geometric_graph(n, r, seed=int_seed(seed, 4, attempt))
        if nx.is_connected(graph):
            return graph
    raise TopologyError(
        f"random_geometric: disconnected in all {max_tries} draws with radius {r:.3g}; increase radius"
    )
