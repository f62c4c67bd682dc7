"""B-connectivity of a schedule: every window of B rounds, united, is strongly connected."""

from __future__ import annotations

import networkx as nx
import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from .checks import _describe_split, union_graph
from .errors import TopologyError
from .schedules.base import Schedule
from .weights._sparse import edge_arrays


def _horizon(schedule: Schedule, window: int, horizon: int | None) -> int:
    if horizon is not None:
        return max(horizon, window)
    if schedule.period:
        return schedule.period + window - 1
    return max(8 * window, 64)


class _Rounds:
    """The graphs of rounds ``0, 1, ...`` of a schedule, each fetched once, with their adjacency.

    ``adjacency[t][u, v]`` is 1 for an edge ``u -> v`` of round t (both ways when the
    schedule is undirected), so the sum over a window counts each edge of the union.
    """

    def __init__(self, schedule: Schedule):
        self.schedule = schedule
        self.symmetric = not schedule.directed
        self.graphs: list[nx.Graph] = []
        self.adjacency: list[sp.csr_array] = []

    def fetch(self, end: int) -> None:
        n = self.schedule.n
        for t in range(len(self.graphs), end):
            graph = self.schedule.graph(t)
            src, dst = edge_arrays(graph)
            if self.symmetric and graph.is_directed():
                src, dst = np.concatenate([src, dst]), np.concatenate([dst, src])
            ones = np.ones(len(src), dtype=np.int64)
            self.graphs.append(graph)
            self.adjacency.append(sp.csr_array((ones, (src, dst)), shape=(n, n)))

    def first_split(self, window: int, end: int) -> int | None:
        """The first start whose window of rounds is not (strongly) connected, or None."""
        self.fetch(end)
        union = self.adjacency[0]
        for t in range(1, window):
            union = union + self.adjacency[t]
        for start in range(end - window + 1):
            if start:
                union = union + self.adjacency[start + window - 1] - self.adjacency[start - 1]
                union.eliminate_zeros()
            count = connected_components(
                union, directed=True, connection="strong", return_labels=False
            )
            if count != 1:
                return start
        return None


def _check(rounds: _Rounds, window: int, horizon: int | None) -> None:
    schedule = rounds.schedule
    if window < 1:
        raise TopologyError(f"window B={window} must be >= 1")
    start = rounds.first_split(window, _horizon(schedule, window, horizon))
    if start is not None:
        union = union_graph(rounds.graphs[start : start + window], schedule.n, schedule.directed)
        raise TopologyError(
            f"{schedule.name} is not {window}-connected: in rounds {start}..{start + window - 1} "
            f"{_describe_split(union)}; use a longer window or a schedule that links every node"
        )


def check_b_connected(schedule: Schedule, window: int, *, horizon: int | None = None) -> None:
    """Raise a :class:`TopologyError` unless every window of ``window`` rounds is connected.

    The union of the graphs of rounds ``t .. t + window - 1`` must be strongly
    connected for every start ``t`` up to ``horizon``: one period (plus a window)
    for periodic schedules, ``max(8 * window, 64)`` rounds for random ones. This
    is the connectivity NEXT and gradient tracking need on time-varying graphs.
    Only the graphs are built, never the weights.

    Examples
    --------
    >>> import topologies
    >>> check_b_connected(topologies.get("random_matching", 8, seed=0), window=8)
    """
    _check(_Rounds(schedule), window, horizon)


def is_b_connected(schedule: Schedule, window: int, *, horizon: int | None = None) -> bool:
    """True when :func:`check_b_connected` passes."""
    try:
        check_b_connected(schedule, window, horizon=horizon)
    except TopologyError:
        return False
    return True


def smallest_window(
    schedule: Schedule, *, max_window: int = 64, horizon: int | None = None
) -> int | None:
    """The smallest B for which ``schedule`` is B-connected, or None if none up to ``max_window``.

    Examples
    --------
    >>> import topologies
    >>> smallest_window(topologies.get("one_peer_exponential", 16))
    4
    """
    rounds = _Rounds(schedule)
    for window in range(1, max_window + 1):
        if rounds.first_split(window, _horizon(schedule, window, horizon)) is None:
            return window
    return None
