"""Graph builders: each returns a NetworkX graph with nodes ``0..n-1``."""

from .complete import complete
from .erdos_renyi import erdos_renyi
from .exponential import exponential, symmetric_exponential
from .geometric import random_geometric
from .grid import grid, near_square, torus
from .hypercube import hypercube
from .path import path
from .random_regular import random_regular
from .ring import ring
from .small_world import small_world
from .star import star

__all__ = [
    "complete",
    "erdos_renyi",
    "exponential",
    "grid",
    "hypercube",
    "near_square",
    "path",
    "random_geometric",
    "random_regular",
    "ring",
    "small_world",
    "star",
    "symmetric_exponential",
    "torus",
]
