"""Checks on mixing matrices and graphs.

Each ``is_*`` predicate returns a bool; :func:`check_weights` and
:func:`check_connected` raise a one-line :class:`TopologyError` that names the
failing row, column or node.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeAlias

import networkx as nx
import numpy as np
import scipy.sparse as sp

from .errors import TopologyError

Matrix: TypeAlias = np.ndarray | sp.sparray
TOL = 1e-10


def _csr(W: Matrix) -> sp.csr_array:
    return sp.csr_array(W)


def _worst(sums: np.ndarray, target: float = 1.0) -> tuple[int, float]:
    i = int(np.argmax(np.abs(sums - target)))
    return i, float(sums[i])


def row_sums(W: Matrix) -> np.ndarray:
    """Sum of every row."""
    return np.asarray(_csr(W).sum(axis=1)).ravel()


def column_sums(W: Matrix) -> np.ndarray:
    """Sum of every column."""
    return np.asarray(_csr(W).sum(axis=0)).ravel()


def is_row_stochastic(W: Matrix, tol: float = TOL) -> bool:
    """Every row sums to one (entries may still be negative: see :func:`is_nonnegative`)."""
    return bool(np.allclose(row_sums(W), 1.0, rtol=0.0, atol=tol))


def is_column_stochastic(W: Matrix, tol: float = TOL) -> bool:
    """Every column sums to one."""
    return bool(np.allclose(column_sums(W), 1.0, rtol=0.0, atol=tol))


def is_doubly_stochastic(W: Matrix, tol: float = TOL) -> bool:
    """Rows and columns sum to one: gossip preserves the average.

    Examples
    --------
    >>> import networkx as nx, topologies
    >>> is_doubly_stochastic(topologies.metropolis_weights(nx.path_graph(5)))
    True
    """
    return is_row_stochastic(W, tol) and is_column_stochastic(W, tol)


def is_symmetric(W: Matrix, tol: float = TOL) -> bool:
    """``W == W^T`` entrywise up to ``tol``."""
    A = _csr(W)
    diff = A - A.T
    return bool(diff.nnz == 0 or np.abs(diff.data).max() <= tol)


def is_nonnegative(W: Matrix, tol: float = TOL) -> bool:
    """No entry below ``-tol``."""
    data = _csr(W).data
    return bool(data.size == 0 or data.min() >= -tol)


def has_positive_diagonal(W: Matrix, tol: float = TOL) -> bool:
    """Every agent keeps a positive weight on its own value (``w_ii > tol``)."""
    return bool(np.all(_csr(W).diagonal() > tol))


def _describe_row(W: Matrix, tol: float) -> str:
    i, s = _worst(row_sums(W))
    return f"row {i} sums to {s:.6g}"


def _describe_col(W: Matrix, tol: float) -> str:
    j, s = _worst(column_sums(W))
    return f"column {j} sums to {s:.6g}"


def _describe_sym(W: Matrix, tol: float) -> str:
    A = _csr(W)
    diff = sp.coo_array(A - A.T)
    k = int(np.argmax(np.abs(diff.data)))
    i, j = int(diff.row[k]), int(diff.col[k])
    return f"w[{i},{j}]={A[i, j]:.6g} but w[{j},{i}]={A[j, i]:.6g}"


def _describe_neg(W: Matrix, tol: float) -> str:
    A = sp.coo_array(_csr(W))
    k = int(np.argmin(A.data))
    return f"w[{int(A.row[k])},{int(A.col[k])}]={A.data[k]:.6g} is negative"


def _describe_diag(W: Matrix, tol: float) -> str:
    d = _csr(W).diagonal()
    i = int(np.argmin(d))
    return f"w[{i},{i}]={d[i]:.6g} is not positive"


_Property = tuple[Callable[[Matrix, float], bool], Callable[[Matrix, float], str], str]

#: Property name -> (predicate, description of the worst entry, how to fix).
PROPERTIES: dict[str, _Property] = {
    "row_stochastic": (
        is_row_stochastic,
        _describe_row,
        "use a row-stochastic rule such as weights=metropolis",
    ),
    "column_stochastic": (
        is_column_stochastic,
        _describe_col,
        "use weights=column_stochastic",
    ),
    "doubly_stochastic": (
        lambda W, tol: is_row_stochastic(W, tol) and is_column_stochastic(W, tol),
        lambda W, tol: (
            _describe_row(W, tol) if not is_row_stochastic(W, tol) else _describe_col(W, tol)
        ),
        "use weights=metropolis on an undirected graph",
    ),
    "symmetric": (is_symmetric, _describe_sym, "use an undirected graph with weights=metropolis"),
    "nonnegative": (
        is_nonnegative,
        _describe_neg,
        "use weights=metropolis or fix the edge weights",
    ),
    "positive_diagonal": (
        has_positive_diagonal,
        _describe_diag,
        "use weights=metropolis or weights=lazy, which keep w_ii > 0",
    ),
}


def check_weights(
    W: Matrix, require: Iterable[str], *, tol: float = TOL, what: str = "mixing matrix"
) -> None:
    """Raise a :class:`TopologyError` unless ``W`` has every property in ``require``.

    Properties: ``row_stochastic``, ``column_stochastic``, ``doubly_stochastic``,
    ``symmetric``, ``nonnegative``, ``positive_diagonal``.

    Examples
    --------
    >>> import numpy as np
    >>> check_weights(np.array([[0.5, 0.5], [0.5, 0.5]]), ["doubly_stochastic", "symmetric"])
    >>> try:
    ...     check_weights(np.array([[1.0, 0.5], [0.0, 0.5]]), ["doubly_stochastic"])
    ... except TopologyError as err:
    ...     print(err)
    mixing matrix is not doubly stochastic: row 0 sums to 1.5; use weights=metropolis on an undirected graph
    """
    for name in require:
        if name not in PROPERTIES:
            raise TopologyError(f"unknown weight property {name!r}; known: {', '.join(PROPERTIES)}")
        holds, describe, fix = PROPERTIES[name]
        if not holds(W, tol):
            raise TopologyError(
                f"{what} is not {name.replace('_', ' ')}: {describe(W, tol)}; {fix}"
            )


def weight_properties(W: Matrix, tol: float = TOL) -> frozenset[str]:
    """The set of :data:`PROPERTIES` that ``W`` has."""
    return frozenset(name for name, (holds, _, _) in PROPERTIES.items() if holds(W, tol))


def is_connected(graph: nx.Graph) -> bool:
    """Connected (undirected) or strongly connected (directed)."""
    if graph.number_of_nodes() == 0:
        return False
    if graph.is_directed():
        return bool(nx.is_strongly_connected(graph))
    return bool(nx.is_connected(graph))


def _components(graph: nx.Graph) -> list[set[int]]:
    comps = (
        nx.strongly_connected_components(graph)
        if graph.is_directed()
        else nx.connected_components(graph)
    )
    return sorted((set(c) for c in comps), key=lambda c: (len(c), min(c)))


def _describe_split(graph: nx.Graph) -> str:
    comps = _components(graph)
    small = comps[0]
    node = min(small)
    if len(small) == 1:
        kind = "cannot reach or be reached by" if graph.is_directed() else "is not linked to"
        return f"node {node} {kind} the other nodes"
    members = sorted(small)
    shown = ", ".join(map(str, members[:8])) + (", ..." if len(members) > 8 else "")
    return f"{len(comps)} components; nodes {{{shown}}} are cut off from the rest"


def check_connected(graph: nx.Graph, what: str = "graph") -> None:
    """Raise a :class:`TopologyError` unless ``graph`` is (strongly) connected, naming a cut-off node.

    Examples
    --------
    >>> import networkx as nx
    >>> G = nx.path_graph(4); G.add_node(4)
    >>> try:
    ...     check_connected(G)
    ... except TopologyError as err:
    ...     print(err)
    graph is not connected: node 4 is not linked to the other nodes; add edges or use a connected topology
    """
    if not is_connected(graph):
        strongly = "strongly " if graph.is_directed() else ""
        raise TopologyError(
            f"{what} is not {strongly}connected: {_describe_split(graph)}; add edges or use a connected topology"
        )


def union_graph(graphs: Iterable[nx.Graph], n: int, directed: bool) -> nx.Graph:
    """The union of the edge sets of ``graphs`` on nodes ``0..n-1``."""
    union: nx.Graph = nx.DiGraph() if directed else nx.Graph()
    union.add_nodes_from(range(n))
    for g in graphs:
        union.add_edges_from(g.edges())
        if directed and not g.is_directed():
            union.add_edges_from((v, u) for u, v in g.edges())
    return union
