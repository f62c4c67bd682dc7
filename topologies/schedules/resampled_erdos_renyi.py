"""Erdős–Rényi graphs redrawn every k rounds."""

from __future__ import annotations

import networkx as nx

from .._random import int_seed
from ..errors import TopologyError
from ..graphs._checks import probability
from ..graphs.erdos_renyi import erdos_renyi
from .base import Schedule


class ResampledErdosRenyi(Schedule):
    """A fresh G(n, p) every ``every`` rounds (not necessarily connected in any one round).

    Examples
    --------
    >>> s = ResampledErdosRenyi(10, p=0.3, every=2, seed=1)
    >>> sorted(s.graph(0).edges()) == sorted(s.graph(1).edges())
    True
    """

    _labels_ready = True

    def __init__(self, n: int, *, p: float, every: int = 1, seed: int = 0, connected: bool = False):
        super().__init__(n, name=f"resampled_erdos_renyi(p={p}, every={every})")
        probability(p, "resampled_erdos_renyi")
        if every < 1:
            raise TopologyError(f"resampled_erdos_renyi: every={every} must be >= 1")
        self.p, self.every, self.seed, self.connected = p, every, seed, connected
        self._last: tuple[int, nx.Graph] | None = None  # the latest draw, reused for its block

    def _graph(self, t: int) -> nx.Graph:
        block = t // self.every
        if self._last is None or self._last[0] != block:
            draw_seed = int_seed(self.seed, 12, block)
            graph = erdos_renyi(self.n, self.p, seed=draw_seed, connected=self.connected)
            self._last = (block, graph)
        return self._last[1]
