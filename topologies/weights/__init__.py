"""Mixing-weight rules: each maps a graph with nodes ``0..n-1`` to a sparse n x n matrix.

``W[i, j]`` is the weight agent i puts on agent j's value, so one gossip round is
``x <- W x`` over the agent dimension.
"""

from __future__ import annotations

from collections.abc import Callable

import networkx as nx
import scipy.sparse as sp

from .attribute import attribute_weights
from .best_constant import best_constant_weights
from .column_stochastic import column_stochastic_weights
from .lazy import lazy, lazy_metropolis_weights
from .max_degree import max_degree_weights
from .metropolis import metropolis_weights

WeightRule = Callable[[nx.Graph], sp.csr_array]

#: Weight rules by name, as used in specs (``ring:weights=max_degree``).
WEIGHT_RULES: dict[str, WeightRule] = {
    "metropolis": metropolis_weights,
    "max_degree": max_degree_weights,
    "lazy": lazy_metropolis_weights,
    "best_constant": best_constant_weights,
    "column_stochastic": column_stochastic_weights,
    "attribute": attribute_weights,
}

__all__ = [
    "WEIGHT_RULES",
    "WeightRule",
    "attribute_weights",
    "best_constant_weights",
    "column_stochastic_weights",
    "lazy",
    "lazy_metropolis_weights",
    "max_degree_weights",
    "metropolis_weights",
]
