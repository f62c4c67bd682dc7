"""Concord topologies: graphs, time-varying schedules, mixing weights and their checks.

The entry point is :func:`get`, which turns a spec into a :class:`Schedule`::

    >>> import topologies
    >>> s = topologies.get("ring", 8)
    >>> round(topologies.spectral_gap(s.weights(0)), 4)
    0.1953

No torch and no torch.distributed here: this package is pure NetworkX, NumPy and SciPy.
"""

from .checks import (
    PROPERTIES,
    check_connected,
    check_weights,
    has_positive_diagonal,
    is_column_stochastic,
    is_connected,
    is_doubly_stochastic,
    is_nonnegative,
    is_row_stochastic,
    is_symmetric,
    weight_properties,
)
from .connectivity import check_b_connected, is_b_connected, smallest_window
from .errors import TopologyError, TopologyWarning
from .files import read_graph
from .graphs import (
    complete,
    erdos_renyi,
    exponential,
    grid,
    hypercube,
    path,
    random_geometric,
    random_regular,
    ring,
    small_world,
    star,
    symmetric_exponential,
    torus,
)
from .labels import normalize_labels
from .plotting import draw, draw_rounds, plot_spectral_gap, spectral_gaps
from .registry import BUILDERS, register
from .schedules import (
    Cycle,
    FromCallable,
    LinkFailure,
    OnePeerExponential,
    RandomMatching,
    ResampledErdosRenyi,
    Schedule,
    StaticSchedule,
)
from .spec import fixed_agents, get, split_top_level
from .spectral import product, spectral_gap, window_contraction
from .weights import (
    WEIGHT_RULES,
    attribute_weights,
    best_constant_weights,
    column_stochastic_weights,
    lazy,
    lazy_metropolis_weights,
    max_degree_weights,
    metropolis_weights,
)


def names() -> list[str]:
    """Sorted names of every registered topology (built-in and user)."""
    return sorted(BUILDERS)


__all__ = [
    "BUILDERS",
    "PROPERTIES",
    "WEIGHT_RULES",
    "Cycle",
    "FromCallable",
    "LinkFailure",
    "OnePeerExponential",
    "RandomMatching",
    "ResampledErdosRenyi",
    "Schedule",
    "StaticSchedule",
    "TopologyError",
    "TopologyWarning",
    "attribute_weights",
    "best_constant_weights",
    "check_b_connected",
    "check_connected",
    "check_weights",
    "column_stochastic_weights",
    "complete",
    "draw",
    "draw_rounds",
    "erdos_renyi",
    "exponential",
    "fixed_agents",
    "get",
    "grid",
    "has_positive_diagonal",
    "hypercube",
    "is_b_connected",
    "is_column_stochastic",
    "is_connected",
    "is_doubly_stochastic",
    "is_nonnegative",
    "is_row_stochastic",
    "is_symmetric",
    "lazy",
    "lazy_metropolis_weights",
    "max_degree_weights",
    "metropolis_weights",
    "names",
    "normalize_labels",
    "path",
    "plot_spectral_gap",
    "product",
    "random_geometric",
    "random_regular",
    "read_graph",
    "register",
    "ring",
    "small_world",
    "smallest_window",
    "spectral_gap",
    "spectral_gaps",
    "split_top_level",
    "star",
    "symmetric_exponential",
    "torus",
    "weight_properties",
    "window_contraction",
]
