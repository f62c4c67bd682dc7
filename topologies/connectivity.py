"""B-connectivity of a schedule: every window of B rounds, united, is strongly connected."""

from __future__ import annotations

from .checks import _describe_split, is_connected, union_graph
from .errors import TopologyError
from .schedules.base import Schedule


def _horizon(schedule: Schedule, window: int, horizon: int | None) -> int:
    if horizon is not None:
        return max(horizon, window)
    if schedule.period:
        return schedule.period + window - 1
    return max(8 * window, 64)


def check_b_connected(schedule: Schedule, window: int, *, horizon: int | None = None) -> None:
    """Raise a :class:`TopologyError` unless every window of ``window`` rounds is connected.

    The union of the graphs of rounds ``t .. t + window - 1`` must be strongly
    connected for every start ``t`` up to ``horizon``: one period (plus a window)
    for periodic schedules, ``max(8 * window, 64)`` rounds for random ones. This
    is the connectivity NEXT and gradient tracking need on time-varying graphs.

    Examples
    --------
    >>> import topologies
    >>> check_b_connected(topologies.get("random_matching", 8, seed=0), window=8)
    """
    if window < 1:
        raise TopologyError(f"window B={window} must be >= 1")
    end = _horizon(schedule, window, horizon)
    graphs = [schedule.graph(t) for t in range(end)]
    for start in range(end - window + 1):
        union = union_graph(graphs[start : start + window], schedule.n, schedule.directed)
        if not is_connected(union):
            raise TopologyError(
                f"{schedule.name} is not {window}-connected: in rounds {start}..{start + window - 1} "
                f"{_describe_split(union)}; use a longer window or a schedule that links every node"
            )


def is_b_connected(schedule: Schedule, window: int, *, horizon: int | None = None) -> bool:
    """True when :func:`check_b_connected` passes."""
    try:
        check_b_connected(schedule, window, horizon=horizon)
    except TopologyError:
        return False
    return True


def smallest_window(
    schedule: Schedule, *, max_window: int = 64, horizon: int | None = None
) -> int | None:
    """The smallest B for which ``schedule`` is B-connected, or None if none up to ``max_window``.

    Examples
    --------
    >>> import topologies
    >>> smallest_window(topologies.get("one_peer_exponential", 16))
    4
    """
    for window in range(1, max_window + 1):
        if is_b_connected(schedule, window, horizon=horizon):
            return window
    return None
