"""2-D grids and tori, with n factored as close to square as possible."""

from __future__ import annotations

import math
import warnings

import networkx as nx

from ..errors import TopologyError, TopologyWarning
from ._checks import positive_n


def near_square(n: int) -> tuple[int, int]:
    """Factor ``n = rows * cols`` with ``rows <= cols`` as close to square as possible.

    Examples
    --------
    >>> near_square(12), near_square(16), near_square(7)
    ((3, 4), (4, 4), (1, 7))
    """
    rows = max(d for d in range(1, math.isqrt(n) + 1) if n % d == 0)
    return rows, n // rows


def _composite_neighbours(n: int) -> str:
    """``"6 or 8"``: the nearest numbers of agents with a factor pair, for the warning."""
    near = [m for m in (n - 1, n + 1) if m >= 4 and near_square(m)[0] > 1]
    return " or ".join(map(str, near)) or "4"


def _shape(n: int, rows: int | None, cols: int | None, name: str) -> tuple[int, int]:
    if rows is None and cols is None:
        shape = near_square(n)
        if shape[0] == 1 and n > 3:  # n prime: the "2-D" graph is one row
            what = "ring" if name == "torus" else "path"
            warnings.warn(
                f"{name}: {n} agents factor only as 1 x {n}, so this {name} is a {what}; "
                f"use {_composite_neighbours(n)} agents for a 2-D {name}, or write {what} "
                f"(or {name}:rows=1) to mean it",
                TopologyWarning,
                stacklevel=4,
            )
        return shape
    if rows is None:
        rows = n // cols if cols else 0
    if cols is None:
        cols = n // rows if rows else 0
    if rows < 1 or cols < 1 or rows * cols != n:
        raise TopologyError(
            f"{name}: rows x cols = {rows} x {cols} does not give {n} agents; "
            f"give rows and cols whose product is {n}"
        )
    return rows, cols


def _relabel(graph: nx.Graph, cols: int) -> nx.Graph:
    # Row-major numbering: node (r, c) is agent r * cols + c.
    return nx.relabel_nodes(graph, {(r, c): r * cols + c for r, c in graph.nodes})


def _with_shape(graph: nx.Graph, rows: int, cols: int) -> nx.Graph:
    # A spec records them on its schedule (details, name), and so in a run's config.json.
    graph.graph.update(rows=rows, cols=cols)
    return graph


def grid(n: int, rows: int | None = None, cols: int | None = None) -> nx.Graph:
    """2-D grid (no wrap-around), nodes numbered row-major.

    Examples
    --------
    >>> grid(6).number_of_edges()  # 2 x 3 grid
    7
    """
    positive_n(n, "grid")
    r, c = _shape(n, rows, cols, "grid")
    return _with_shape(_relabel(nx.grid_2d_graph(r, c), c), r, c)


def torus(n: int, rows: int | None = None, cols: int | None = None) -> nx.Graph:
    """2-D torus: a grid whose rows and columns wrap around (degree 4 when both sides >= 3).

    Without ``rows`` and ``cols``, ``n`` is factored as close to square as
    possible; a prime ``n`` gives one row, a ring, with a :class:`TopologyWarning`.
    The shape is kept as ``graph.graph["rows"]`` and ``graph.graph["cols"]``.

    Examples
    --------
    >>> sorted(d for _, d in torus(16).degree())[0]
    4
    """
    positive_n(n, "torus")
    r, c = _shape(n, rows, cols, "torus")
    graph = nx.Graph()
    graph.add_nodes_from(range(n))
    for i in range(r):
        for j in range(c):
            u = i * c + j
            for v in (((i + 1) % r) * c + j, i * c + (j + 1) % c):
                if v != u:
                    graph.add_edge(u, v)
    return _with_shape(graph, r, c)
