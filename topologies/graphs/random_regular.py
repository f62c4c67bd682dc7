"""Random d-regular graphs."""

from __future__ import annotations

import networkx as nx

from .._random import int_seed
from ..errors import TopologyError
from ._checks import positive_n


def random_regular(n: int, d: int = 4, *, seed: int = 0, max_tries: int = 100) -> nx.Graph:
    """Uniform random ``d``-regular graph, redrawn until connected.

    Examples
    --------
    >>> set(dict(random_regular(10, d=3, seed=1).degree()).values())
    {3}
    """
    positive_n(n, "random_regular", 2)
    if not 1 <= d < n or (n * d) % 2:
        raise TopologyError(
            f"random_regular: no {d}-regular graph on {n} nodes; need 1 <= d < n and n*d even"
        )
    for attempt in range(max_tries):
        graph = nx.random_regular_graph(d, n, seed=int_seed(seed, 1, attempt))
        if nx.is_connected(graph):
            return graph
    raise TopologyError(
        f"random_regular: no connected {d}-regular graph on {n} nodes in {max_tries} draws; increase d"
    )
