"""Splitting a dataset among agents: iid, by label shards, or Dirichlet non-IID."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..errors import ConfigError


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, 0xDA7A]))


def iid(y: np.ndarray, n: int, seed: int) -> list[np.ndarray]:
    """Shuffle and deal out evenly (shard sizes differ by at most one)."""
    return [np.sort(part) for part in np.array_split(_rng(seed).permutation(len(y)), n)]


def label_shards(y: np.ndarray, n: int, seed: int, shards_per_agent: int = 2) -> list[np.ndarray]:
    """Sort by label, cut into ``n * shards_per_agent`` shards, deal each agent a few (McMahan et al.).

    For regression the target is sorted instead, so each agent sees a range of it.
    """
    order = np.argsort(y, kind="stable")
    shards = np.array_split(order, n * shards_per_agent)
    assignment = _rng(seed).permutation(len(shards)).reshape(n, shards_per_agent)
    return [np.sort(np.concatenate([shards[s] for s in row])) for row in assignment]


def dirichlet(y: np.ndarray, n: int, seed: int, alpha: float = 0.5) -> list[np.ndarray]:
    """Per class, proportions across agents drawn from Dirichlet(alpha); small alpha = skewed.

    Every agent gets at least one sample (taken from the largest shard if needed).
    """
    if alpha <= 0:
        raise ConfigError(f"dirichlet alpha={alpha} must be positive; e.g. dirichlet:0.5")
    gen = _rng(seed)
    labels = (
        y
        if np.issubdtype(y.dtype, np.integer)
        else np.digitize(y, np.quantile(y, [0.2, 0.4, 0.6, 0.8]))
    )
    parts: list[list[int]] = [[] for _ in range(n)]
    for c in np.unique(labels):
        idx = gen.permutation(np.flatnonzero(labels == c))
        cuts = (np.cumsum(gen.dirichlet(np.full(n, alpha))) * len(idx)).astype(int)[:-1]
        for agent, chunk in enumerate(np.split(idx, cuts)):
            parts[agent].extend(chunk.tolist())
    for agent in range(n):
        if not parts[agent]:
            donor = max(range(n), key=lambda a: len(parts[a]))
            parts[agent].append(parts[donor].pop())
    return [np.sort(np.array(p, dtype=np.int64)) for p in parts]


#: Partition scheme name -> function(y, n, seed, [param]).
PARTITIONS: dict[str, Callable[..., list[np.ndarray]]] = {
    "iid": iid,
    "label": label_shards,
    "dirichlet": dirichlet,
}


def partition(y: np.ndarray, n: int, scheme: str = "iid", seed: int = 0) -> list[np.ndarray]:
    """Indices of each agent's samples for a scheme ``iid``, ``label[:K]`` or ``dirichlet[:ALPHA]``.

    Examples
    --------
    >>> parts = partition(np.arange(10) % 2, 3, "iid")
    >>> [len(p) for p in parts]
    [4, 3, 3]
    """
    name, _, arg = scheme.partition(":")
    if name not in PARTITIONS:
        raise ConfigError(
            f"unknown partition {scheme!r}; use iid, label, label:K or dirichlet:ALPHA"
        )
    if n > len(y):
        raise ConfigError(
            f"{n} agents but only {len(y)} training samples; use at most {len(y)} agents"
        )
    fn = PARTITIONS[name]
    if not arg:
        parts = fn(y, n, seed)
    else:
        try:
            value = float(arg.split("=")[-1])
        except ValueError:
            raise ConfigError(
                f"partition {scheme!r}: {arg!r} is not a number; e.g. dirichlet:0.5 or label:2"
            ) from None
        parts = fn(y, n, seed, int(value)) if name == "label" else fn(y, n, seed, value)
    if any(len(p) == 0 for p in parts):
        raise ConfigError(
            f"partition {scheme!r} left an agent without data; use fewer agents or more shards"
        )
    return parts
