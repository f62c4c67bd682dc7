"""Time-varying schedules: for round t, a graph and its mixing matrix."""

from .base import Schedule, StaticSchedule
from .cycle import Cycle
from .from_callable import FromCallable
from .link_failure import LinkFailure
from .one_peer_exponential import OnePeerExponential
from .random_matching import RandomMatching
from .resampled_erdos_renyi import ResampledErdosRenyi

__all__ = [
    "Cycle",
    "FromCallable",
    "LinkFailure",
    "OnePeerExponential",
    "RandomMatching",
    "ResampledErdosRenyi",
    "Schedule",
    "StaticSchedule",
]
