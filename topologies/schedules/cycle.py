"""A cycle through a user's list of graphs."""

from __future__ import annotations

from collections.abc import Sequence

import networkx as nx

from ..errors import TopologyError
from ..labels import normalize_labels
from .base import Schedule


class Cycle(Schedule):
    """Round t uses ``graphs[t % len(graphs)]``.

    Examples
    --------
    >>> import networkx as nx
    >>> s = Cycle([nx.path_graph(4), nx.star_graph(3)])
    >>> s.period, s.graph(3).number_of_edges()
    (2, 3)
    """

    _labels_ready = True

    def __init__(
        self, graphs: Sequence[nx.Graph], *, n: int | None = None, weights: str | None = None
    ):
        if not graphs:
            raise TopologyError("cycle needs at least one graph; give a non-empty list")
        count = graphs[0].number_of_nodes() if n is None else n
        super().__init__(count, weights=weights, name=f"cycle of {len(graphs)} graphs")
        self._graphs = [
            normalize_labels(g, self.n, f"graph {k} of the cycle") for k, g in enumerate(graphs)
        ]
        self.period = len(self._graphs)

    def _graph(self, t: int) -> nx.Graph:
        return self._graphs[t % len(self._graphs)]
