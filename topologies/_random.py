"""Seeding: every random draw is keyed by (seed, purpose, round), never by process."""

from __future__ import annotations

import numpy as np

from .errors import TopologyError


def check_seed(seed: object) -> int:
    """Return ``seed`` as a non-negative int, or raise a :class:`TopologyError`."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise TopologyError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def rng(seed: int, *keys: int) -> np.random.Generator:
    """A generator that depends only on ``seed`` and ``keys``.

    The same ``(seed, *keys)`` gives the same stream in any process, so a
    time-varying schedule draws the same graph for round ``t`` everywhere.
    """
    return np.random.default_rng(np.random.SeedSequence([check_seed(seed), *keys]))


def int_seed(seed: int, *keys: int) -> int:
    """A 31-bit integer seed derived from ``(seed, *keys)``, for networkx generators."""
    return int(rng(seed, *keys).integers(2**31 - 1))
