"""Helpers shared by the weight rules."""

from __future__ import annotations

from itertools import chain

import networkx as nx
import numpy as np
import scipy.sparse as sp

from ..errors import TopologyError


def edge_arrays(graph: nx.Graph) -> tuple[np.ndarray, np.ndarray]:
    """Sources and targets of the non-loop edges, both directions for an undirected graph."""
    m = graph.number_of_edges()
    flat = np.fromiter(chain.from_iterable(graph.edges()), dtype=np.int64, count=2 * m)
    src, dst = flat[0::2], flat[1::2]
    loops = src == dst
    if loops.any():
        src, dst = src[~loops], dst[~loops]
    if not graph.is_directed():
        src, dst = np.concatenate([src, dst]), np.concatenate([dst, src])
    return src, dst


def degrees(graph: nx.Graph) -> np.ndarray:
    """Degree of every node, self-loops excluded (out-degree for a directed graph)."""
    src, _ = edge_arrays(graph)
    return np.bincount(src, minlength=graph.number_of_nodes()).astype(np.float64)


def with_remainder_diagonal(
    n: int, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray
) -> sp.csr_array:
    """Off-diagonal entries plus the diagonal that makes every row sum to one."""
    diag = 1.0 - np.bincount(rows, weights=vals, minlength=n)
    keep = np.flatnonzero(diag)  # no explicit zeros on the diagonal
    return sp.csr_array(
        (
            np.concatenate([vals, diag[keep]]),
            (np.concatenate([rows, keep]), np.concatenate([cols, keep])),
        ),
        shape=(n, n),
    )


def require_undirected(graph: nx.Graph, rule: str) -> None:
    """Symmetric rules are defined on undirected graphs only."""
    if graph.is_directed():
        raise TopologyError(
            f"weights={rule} needs an undirected graph; use weights=column_stochastic for a directed one"
        )
