"""Helpers shared by the weight rules."""

from __future__ import annotations

import networkx as nx
import numpy as np
import scipy.sparse as sp

from ..errors import TopologyError


def edge_arrays(graph: nx.Graph) -> tuple[np.ndarray, np.ndarray]:
    """Sources and targets of the non-loop edges, both directions for an undirected graph."""
    edges = np.array([(u, v) for u, v in graph.edges() if u != v], dtype=np.int64).reshape(-1, 2)
    src, dst = edges[:, 0], edges[:, 1]
    if not graph.is_directed():
        src, dst = np.concatenate([src, dst]), np.concatenate([dst, src])
    return src, dst


def degrees(graph: nx.Graph) -> np.ndarray:
    """Degree of every node, self-loops excluded (out-degree for a directed graph)."""
    n = graph.number_of_nodes()
    src, _ = edge_arrays(graph)
    return np.bincount(src, minlength=n).astype(np.float64)


def with_remainder_diagonal(
    n: int, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray
) -> sp.csr_array:
    """Off-diagonal entries plus the diagonal that makes every row sum to one."""
    off = sp.csr_array((vals, (rows, cols)), shape=(n, n))
    diag = 1.0 - np.asarray(off.sum(axis=1)).ravel()
    return sp.csr_array(off + sp.diags_array(diag, format="csr"))


def require_undirected(graph: nx.Graph, rule: str) -> None:
    """Symmetric rules are defined on undirected graphs only."""
    if graph.is_directed():
        raise TopologyError(
            f"weights={rule} needs an undirected graph; use weights=column_stochastic for a directed one"
        )
