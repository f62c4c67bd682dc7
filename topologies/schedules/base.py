"""The :class:`Schedule`: for round t, a graph and its mixing matrix."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import OrderedDict

import networkx as nx
import numpy as np
import scipy.sparse as sp

from ..checks import check_connected, check_weights, weight_properties
from ..errors import TopologyError
from ..labels import normalize_labels
from ..weights import WEIGHT_RULES, WeightRule

_CACHE_SIZE = 16


def resolve_rule(rule: str | WeightRule | None, directed: bool) -> tuple[str, WeightRule]:
    """A weight rule by name (or a callable), defaulting by graph kind."""
    if rule is None:
        rule = "column_stochastic" if directed else "metropolis"
    if callable(rule):
        return getattr(rule, "__name__", "custom"), rule
    if rule not in WEIGHT_RULES:
        raise TopologyError(f"unknown weight rule {rule!r}; known: {', '.join(WEIGHT_RULES)}")
    return rule, WEIGHT_RULES[rule]


class Schedule(ABC):
    """A topology over rounds: ``graph(t)`` and ``weights(t)`` for ``t = 0, 1, ...``.

    Subclasses implement :meth:`_graph`; everything else (label checks, weights,
    caching, validation) is shared. The same ``(spec, n, seed, t)`` always gives
    the same graph, in any process.

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
    """

    #: Rounds after which the graph sequence repeats (1 for static), or None.
    period: int | None = None

    def __init__(self, n: int, *, weights: str | WeightRule | None = None, name: str = "schedule"):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise TopologyError(f"the number of agents must be a positive integer, got {n!r}")
        self.n = int(n)
        self.name = name
        self._rule_arg = weights
        self._cache: OrderedDict[int, tuple[nx.Graph, sp.csr_array]] = OrderedDict()

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

    def _entry(self, t: int) -> tuple[nx.Graph, sp.csr_array]:
        if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or t < 0:
            raise TopologyError(f"round must be a non-negative integer, got {t!r}")
        t = int(t) % self.period if self.period else int(t)
        if t in self._cache:
            self._cache.move_to_end(t)
            return self._cache[t]
        graph = normalize_labels(self._graph(t), self.n, f"round {t} of {self.name}")
        _, rule = resolve_rule(self._rule_arg, graph.is_directed())
        W = sp.csr_array(rule(graph), dtype=np.float64)
        self._validate(W, t)
        self._cache[t] = (graph, W)
        if len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return graph, W

    def _validate(self, W: sp.csr_array, t: int) -> None:
        what = f"mixing matrix of round {t} of {self.name}"
        check_weights(W, ["nonnegative"], what=what)
        props = weight_properties(W)
        if "row_stochastic" not in props and "column_stochastic" not in props:
            check_weights(W, ["row_stochastic"], what=what)

    def graph(self, t: int = 0) -> nx.Graph:
        """The communication graph of round ``t`` (edge ``j -> i``: i receives from j)."""
        return self._entry(t)[0]

    def weights(self, t: int = 0) -> sp.csr_array:
        """The sparse n x n mixing matrix of round ``t``: one gossip round is ``x <- W x``."""
        return self._entry(t)[1]

    def dense(self, t: int = 0) -> np.ndarray:
        """``weights(t)`` as a dense NumPy array (for small n)."""
        return self.weights(t).toarray()

    def properties(self, rounds: int | None = None) -> frozenset[str]:
        """Weight properties (see :data:`topologies.checks.PROPERTIES`) that hold in every checked round.

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
        self._cache.clear()
        self._entry(0)
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

    def __init__(
        self,
        graph: nx.Graph,
        *,
        n: int | None = None,
        weights: str | WeightRule | None = None,
        name: str = "graph",
    ):
        super().__init__(graph.number_of_nodes() if n is None else n, weights=weights, name=name)
        self._fixed = normalize_labels(graph, self.n, name)
        check_connected(self._fixed, what=name)
        self._entry(0)

    def _graph(self, t: int) -> nx.Graph:
        return self._fixed
