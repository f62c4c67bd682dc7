"""Link failures: each edge of a base graph drops out at random each round."""

from __future__ import annotations

import networkx as nx
import numpy as np

from .._random import rng
from ..graphs._checks import probability
from ..labels import normalize_labels
from .base import Schedule


class LinkFailure(Schedule):
    """Every round each edge of ``base`` fails independently with probability ``q``.

    Weights are recomputed on the surviving graph (Metropolis by default), so they
    stay doubly stochastic; an agent whose links all failed keeps its own value.

    Examples
    --------
    >>> import networkx as nx
    >>> s = LinkFailure(nx.cycle_graph(8), q=0.5, seed=0)
    >>> s.graph(0).number_of_edges() <= 8
    True
    """

    _labels_ready = True

    def __init__(self, base: nx.Graph, *, q: float, seed: int = 0, weights: str | None = None):
        super().__init__(base.number_of_nodes(), weights=weights, name=f"link_failure(q={q})")
        probability(q, "link_failure", "q")
        base = normalize_labels(base, self.n, "the base graph of link_failure")
        self.base, self.q, self.seed = base, q, seed
        self._edges = np.array(list(base.edges()), dtype=np.int64).reshape(-1, 2)

    def _graph(self, t: int) -> nx.Graph:
        alive = rng(self.seed, 11, t).random(len(self._edges)) >= self.q
        graph = self.base.__class__()
        graph.add_nodes_from(range(self.n))
        graph.add_edges_from(self._edges[alive].tolist())
        return graph
