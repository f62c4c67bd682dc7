"""Shared argument checks for the graph builders."""

from __future__ import annotations

from ..errors import TopologyError


def positive_n(n: int, name: str, minimum: int = 1) -> None:
    """Raise unless ``n`` is an int >= ``minimum``."""
    if isinstance(n, bool) or not isinstance(n, int) or n < minimum:
        raise TopologyError(f"{name} needs at least {minimum} agents, got n={n!r}")


def probability(p: float, name: str, key: str = "p") -> None:
    """Raise unless ``0 <= p <= 1``."""
    if not 0.0 <= p <= 1.0:
        raise TopologyError(f"{name}: {key}={p} is not a probability; give 0 <= {key} <= 1")
