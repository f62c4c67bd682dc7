"""2-D grids and tori, with n factored as close to square as possible."""

from __future__ import annotations

import math

import networkx as nx

from ..errors import TopologyError
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


def _shape(n: int, rows: int | None, cols: int | None, name: str) -> tuple[int, int]:
    if rows is None and cols is None:
        return near_square(n)
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


def grid(n: int, rows: int | None = None, cols: int | None = None) -> nx.Graph:
    """2-D grid (no wrap-around), nodes numbered row-major.

    Examples
    --------
    >>> grid(6).number_of_edges()  # 2 x 3 grid
    7
    """
    positive_n(n, "grid")
    r, c = _shape(n, rows, cols, "grid")
    return _relabel(nx.grid_2d_graph(r, c), c)


def torus(n: int, rows: int | None = None, cols: int | None = None) -> nx.Graph:
    """2-D torus: a grid whose rows and columns wrap around (degree 4 when both sides >= 3).

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
    return graph
