"""A schedule from any Python callable f(t) -> graph."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import networkx as nx

from ..errors import TopologyError
from .base import Schedule


class FromCallable(Schedule):
    """Round t uses ``f(t)``; ``f`` may also take ``n`` and ``seed`` by name.

    The callable must be deterministic in its arguments so every process sees
    the same graph (derive randomness from ``seed`` and ``t``).

    Examples
    --------
    >>> import networkx as nx
    >>> s = FromCallable(lambda t: nx.cycle_graph(6) if t % 2 else nx.star_graph(5), n=6)
    >>> s.graph(1).number_of_edges(), s.graph(2).number_of_edges()
    (6, 5)
    """

    def __init__(
        self,
        f: Callable[..., nx.Graph],
        *,
        n: int,
        seed: int = 0,
        weights: str | None = None,
        name: str | None = None,
    ):
        super().__init__(n, weights=weights, name=name or str(getattr(f, "__name__", "callable")))
        try:
            params = inspect.signature(f).parameters
        except (TypeError, ValueError):
            params = {}  # type: ignore[assignment]
        self._extra = {k: v for k, v in (("n", self.n), ("seed", seed)) if k in params}
        self._f = f

    def _graph(self, t: int) -> nx.Graph:
        try:
            return self._f(t, **self._extra)
        except TopologyError:
            raise
        except Exception as err:  # a user's function: report it in one line
            raise TopologyError(
                f"{self.name}(t={t}) raised {type(err).__name__}: {err}; fix the function"
            ) from None
