"""Best-constant Laplacian weights (Xiao & Boyd 2004)."""

from __future__ import annotations

import networkx as nx
import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from ..errors import TopologyError
from ._sparse import require_undirected

_DENSE_LIMIT = 1024


def _extreme_laplacian_eigenvalues(L: sp.csr_array) -> tuple[float, float]:
    n = L.shape[0]
    if n <= _DENSE_LIMIT:
        eig = np.linalg.eigvalsh(L.toarray())
        return float(eig[1]), float(eig[-1])
    largest = spla.eigsh(L, k=1, which="LA", return_eigenvectors=False)[0]
    # Shift-invert near zero finds the two smallest; the first is the zero eigenvalue.
    small = spla.eigsh(L, k=2, sigma=-1e-6, which="LM", return_eigenvectors=False)
    return float(np.sort(small)[1]), float(largest)


def best_constant_weights(graph: nx.Graph) -> sp.csr_array:
    """``W = I - a L`` with ``a = 2 / (lambda_2(L) + lambda_n(L))``, L the graph Laplacian.

    The best single edge weight for the spectral gap. Symmetric and doubly
    stochastic, but self-weights can be negative on irregular graphs; the
    schedule checks refuse it then.

    Examples
    --------
    >>> import networkx as nx
    >>> best_constant_weights(nx.complete_graph(3)).toarray().round(3).tolist()[0]
    [0.333, 0.333, 0.333]
    """
    require_undirected(graph, "best_constant")
    n = graph.number_of_nodes()
    if n == 1:
        return sp.csr_array(np.ones((1, 1)))
    L = sp.csr_array(nx.laplacian_matrix(graph, nodelist=range(n)).astype(np.float64))
    lam2, lamn = _extreme_laplacian_eigenvalues(L)
    if lam2 <= 1e-12:
        raise TopologyError("weights=best_constant needs a connected graph (lambda_2(L) = 0)")
    a = 2.0 / (lam2 + lamn)
    return sp.csr_array(sp.eye_array(n, format="csr") - a * L)
