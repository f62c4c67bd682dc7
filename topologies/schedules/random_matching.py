"""A fresh random matching every round."""

from __future__ import annotations

import networkx as nx
import numpy as np

from .._random import rng
from ..labels import normalize_labels
from .base import Schedule


class RandomMatching(Schedule):
    """Each round, agents pair up at random and average with their partner.

    Without ``base`` any two agents may pair (a random perfect matching, one
    agent left out when n is odd); with a ``base`` graph the pairs are a random
    maximal matching of its edges. Disconnected in every round, but the union of
    a few rounds is connected.

    Examples
    --------
    >>> s = RandomMatching(6, seed=0)
    >>> all(d == 1 for _, d in s.graph(0).degree())
    True
    """

    _labels_ready = True

    def __init__(
        self, n: int, *, base: nx.Graph | None = None, seed: int = 0, weights: str | None = None
    ):
        super().__init__(n, weights=weights, name="random_matching")
        self.seed = seed
        self._base_edges: np.ndarray | None = None
        if base is not None:
            base = normalize_labels(base, self.n, "the base graph of random_matching")
            self._base_edges = np.array(list(base.edges()), dtype=np.int64).reshape(-1, 2)

    def _graph(self, t: int) -> nx.Graph:
        gen = rng(self.seed, 10, t)
        graph = nx.Graph()
        graph.add_nodes_from(range(self.n))
        if self._base_edges is None:
            perm = gen.permutation(self.n)
            graph.add_edges_from(zip(perm[0:-1:2].tolist(), perm[1::2].tolist(), strict=True))
            return graph
        used = [False] * self.n
        pairs = []
        for u, v in self._base_edges[gen.permutation(len(self._base_edges))].tolist():
            if u != v and not used[u] and not used[v]:
                used[u] = used[v] = True
                pairs.append((u, v))
        graph.add_edges_from(pairs)
        return graph
