"""The :class:`Schedule`: for round t, a graph and its mixing matrix."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import OrderedDict
from typing import Any, Generic, TypeVar

import networkx as nx
import numpy as np
import scipy.sparse as sp

from ..checks import TOL, check_connected, check_weights, weight_properties
from ..errors import TopologyError
from ..labels import normalize_labels
from ..weights import WEIGHT_RULES, WeightRule

_GRAPH_CACHE_SIZE = 32
_WEIGHTS_CACHE_SIZE = 32

_K = TypeVar("_K")
_V = TypeVar("_V")


class _LRU(Generic[_K, _V]):
    """A small least-recently-used cache."""

    def __init__(self, size: int):
        self.size = size
        self._items: OrderedDict[_K, _V] = OrderedDict()

    def get(self, key: _K) -> _V | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: _K, value: _V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        if len(self._items) > self.size:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()


def resolve_rule(rule: str | WeightRule | None, directed: bool) -> tuple[str, WeightRule]:
    """A weight rule by name (or a callable), defaulting by graph kind."""
    if rule is None:
        rule = "column_stochastic" if directed else "metropolis"
    if callable(rule):
        return getattr(rule, "__name__", "custom"), rule
    if rule not in WEIGHT_RULES:
        raise TopologyError(f"unknown weight rule {rule!r}; known: {', '.join(WEIGHT_RULES)}")
    return rule, WEIGHT_RULES[rule]


def _sums_to_one(sums: np.ndarray) -> bool:
    return bool(np.all(np.abs(sums - 1.0) <= TOL))


class Schedule(ABC):
    """A topology over rounds: ``graph(t)`` and ``weights(t)`` for ``t = 0, 1, ...``.

    Subclasses implement :meth:`_graph`; everything else (label checks, weights,
    caching, validation) is shared. ``graph(t)`` only builds the graph (so
    connectivity checks never compute weights); ``weights(t)`` builds the mixing
    matrix from it. Each keeps a small cache of recent rounds. The same
    ``(spec, n, seed, t)`` always gives the same graph, in any process.

    Parameters
    ----------
    n : int
        Number of agents (nodes ``0..n-1``).
    weights : str or callable, optional
        A weight rule from :data:`topologies.WEIGHT_RULES` or a function
        ``graph -> scipy.sparse matrix``. Default: ``metropolis`` for undirected
        graphs, ``column_stochastic`` for directed ones.
    name : str
        A short description, used in messages and plots.

    Attributes
    ----------
    details : dict
        What the spec left implicit and the builder chose, as plain JSON
        values, recorded in a run's config.json: e.g. ``{"shape": [2, 4]}``
        for a torus or grid, ``{"node_labels": {"a": 0, "b": 1}}`` for a
        graph whose nodes were relabelled.
    """

    #: Rounds after which the graph sequence repeats (1 for static), or None.
    period: int | None = None

    #: True when :meth:`_graph` already returns graphs with nodes ``0..n-1`` (the
    #: built-in schedules), so their labels need no normalizing.
    _labels_ready: bool = False

    def __init__(self, n: int, *, weights: str | WeightRule | None = None, name: str = "schedule"):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise TopologyError(f"the number of agents must be a positive integer, got {n!r}")
        self.n = int(n)
        self.name = name
        self.details: dict[str, Any] = {}
        self._rule_arg = weights
        self._graph_lru: _LRU[int, nx.Graph] = _LRU(_GRAPH_CACHE_SIZE)
        self._weights_lru: _LRU[int, sp.csr_array] = _LRU(_WEIGHTS_CACHE_SIZE)

    @property
    def is_static(self) -> bool:
        """True when every round has the same graph and weights."""
        return self.period == 1

    @property
    def directed(self) -> bool:
        """True when the graphs are directed (then weights are column-stochastic by default)."""
        return bool(self.graph(0).is_directed())

    @property
    def rule(self) -> str:
        """Name of the weight rule in use."""
        return resolve_rule(self._rule_arg, self.directed)[0]

    @abstractmethod
    def _graph(self, t: int) -> nx.Graph:
        """The graph of round ``t`` (labels may still need normalizing)."""

    def _round(self, t: int) -> int:
        if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or t < 0:
            raise TopologyError(f"round must be a non-negative integer, got {t!r}")
        return int(t) % self.period if self.period else int(t)

    def _validate(self, W: sp.csr_array, t: int) -> None:
        """Nonnegative and row- or column-stochastic, checked on the stored entries."""
        what = f"mixing matrix of round {t} of {self.name}"
        if W.shape != (self.n, self.n):
            raise TopologyError(
                f"{what} has shape {W.shape}, not ({self.n}, {self.n}); "
                "the weight rule must return an n x n matrix"
            )
        data = W.data
        if data.size and not data.min() >= -TOL:
            check_weights(W, ["nonnegative"], what=what)
        rows = np.repeat(np.arange(self.n), np.diff(W.indptr))
        if _sums_to_one(np.bincount(rows, weights=data, minlength=self.n)):
            return
        if _sums_to_one(np.bincount(W.indices, weights=data, minlength=self.n)):
            return
        check_weights(W, ["row_stochastic"], what=what)

    def graph(self, t: int = 0) -> nx.Graph:
        """The communication graph of round ``t`` (edge ``j -> i``: i receives from j)."""
        key = self._round(t)
        graph = self._graph_lru.get(key)
        if graph is None:
            graph = self._graph(key)
            if not self._labels_ready:
                graph = normalize_labels(graph, self.n, f"round {key} of {self.name}")
            self._graph_lru.put(key, graph)
        return graph

    def weights(self, t: int = 0) -> sp.csr_array:
        """The sparse n x n mixing matrix of round ``t``: one gossip round is ``x <- W x``."""
        key = self._round(t)
        W = self._weights_lru.get(key)
        if W is None:
            graph = self.graph(key)
            _, rule = resolve_rule(self._rule_arg, graph.is_directed())
            raw = rule(graph)
            if isinstance(raw, sp.csr_array) and raw.dtype == np.float64:
                W = raw
            else:
                W = sp.csr_array(raw, dtype=np.float64)
            self._validate(W, key)
            self._weights_lru.put(key, W)
        return W

    def dense(self, t: int = 0) -> np.ndarray:
        """``weights(t)`` as a dense NumPy array (for small n)."""
        return self.weights(t).toarray()

    def properties(self, rounds: int | None = None) -> frozenset[str]:
        """Weight properties (see :data:`topologies.PROPERTIES`) that hold in every checked round.

        Checks one period, or ``rounds`` rounds (default 32) of an aperiodic schedule.
        """
        count = rounds or self.period or 32
        props: frozenset[str] | None = None
        for t in range(count):
            p = weight_properties(self.weights(t))
            props = p if props is None else props & p
        return props or frozenset()

    def require(
        self, properties: list[str], *, rounds: int | None = None, who: str = "this algorithm"
    ) -> None:
        """Raise a :class:`TopologyError` unless every checked round's weights have ``properties``."""
        count = rounds or self.period or 32
        for t in range(count):
            check_weights(
                self.weights(t),
                properties,
                what=f"{who} needs {' and '.join(p.replace('_', ' ') for p in properties)} weights, but round {t} of {self.name}",
            )

    def with_weights(self, weights: str | WeightRule) -> Schedule:
        """Use another weight rule from now on (returns ``self``), re-checking round 0."""
        self._rule_arg = weights
        self._weights_lru.clear()
        self.weights(0)
        return self

    def __repr__(self) -> str:
        kind = "static" if self.is_static else "time-varying"
        return f"<Schedule {self.name!r}: {self.n} agents, {kind}, weights={self.rule}>"


class StaticSchedule(Schedule):
    """The same graph in every round. It must be (strongly) connected.

    Examples
    --------
    >>> import networkx as nx
    >>> s = StaticSchedule(nx.cycle_graph(5))
    >>> s.is_static, s.weights(3).shape
    (True, (5, 5))
    """

    period = 1
    _labels_ready = True

    def __init__(
        self,
        graph: nx.Graph,
        *,
        n: int | None = None,
        weights: str | WeightRule | None = None,
        name: str = "graph",
    ):
        super().__init__(graph.number_of_nodes() if n is None else n, weights=weights, name=name)
        self._fixed = normalize_labels(graph, self.n, name, record=self.details)
        check_connected(self._fixed, what=name)
        self.weights(0)

    def _graph(self, t: int) -> nx.Graph:
        return self._fixed
