"""Algorithms: one file each, one registry dict by name.

>>> from consensus.algorithms import ALGORITHMS, make
>>> sorted(ALGORITHMS)
['centralized', 'dgd', 'dsgd', 'extra', 'gradient_tracking', 'local_sgd', 'next', 'nids', 'push_sum']
>>> make("gradient_tracking", lr=0.05)
GradientTracking(lr=0.05)
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from ..errors import ConfigError
from .base import Algorithm, Context, State
from .centralized import Centralized
from .dgd import DGD
from .dsgd import DSGD
from .extra import EXTRA
from .gradient_tracking import GradientTracking
from .local_sgd import LocalSGD
from .next import NEXT
from .nids import NIDS
from .push_sum import PushSum

#: Algorithm name -> class.
ALGORITHMS: dict[str, type[Algorithm]] = {
    cls.name: cls
    for cls in (NEXT, DGD, DSGD, GradientTracking, EXTRA, NIDS, PushSum, LocalSGD, Centralized)
}


def make(name: str, **options: Any) -> Algorithm:
    """An algorithm by name with hyperparameters; unknown names or options raise a ConfigError."""
    if name not in ALGORITHMS:
        raise ConfigError(f"unknown algorithm {name!r}; known: {', '.join(ALGORITHMS)}")
    cls = ALGORITHMS[name]
    known = {f.name for f in fields(cls)}
    bad = sorted(set(options) - known)
    if bad:
        raise ConfigError(
            f"{name}: unknown option {bad[0]!r}; accepted: {', '.join(sorted(known))}"
        )
    alg = cls(**options)
    alg.validate()
    return alg


__all__ = [
    "ALGORITHMS",
    "DGD",
    "DSGD",
    "EXTRA",
    "NEXT",
    "NIDS",
    "Algorithm",
    "Centralized",
    "Context",
    "GradientTracking",
    "LocalSGD",
    "PushSum",
    "State",
    "make",
]
