"""Counter-based random numbers: a value depends only on (seed, agent, round, index).

Every agent's stream is a pure function of its id, so a run gives the same
batches whichever process hosts the agent, with no per-agent generator loop.
"""

from __future__ import annotations

import numpy as np

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def splitmix64(x: np.ndarray) -> np.ndarray:
    """The SplitMix64 finalizer, elementwise on uint64 (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        z = x + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        return z ^ (z >> np.uint64(31))


def hash_ints(*keys: np.ndarray | int, state: np.ndarray | None = None) -> np.ndarray:
    """Hash broadcastable integer arrays into uniform uint64 values.

    ``state`` continues from the hash of earlier keys:
    ``hash_ints(c, state=hash_ints(a, b))`` equals ``hash_ints(a, b, c)``.
    """
    # Broadcasting as the keys come (not all up front) gives the same values
    # elementwise, with the early rounds on the small leading keys only.
    arrays = [np.asarray(k, dtype=np.uint64) for k in keys]
    h = np.zeros((), dtype=np.uint64) if state is None else state
    for a in arrays:
        h = splitmix64(h ^ a)
    shape = np.broadcast_shapes(np.shape(h), *(a.shape for a in arrays))
    return h if np.shape(h) == shape else np.broadcast_to(h, shape).copy()


def uniform_indices(
    seed: int,
    agents: np.ndarray,
    t: int | np.ndarray,
    count: int,
    sizes: np.ndarray,
    *,
    agent_state: np.ndarray | None = None,
) -> np.ndarray:
    """``(len(agents), count)`` indices, row i uniform in ``[0, sizes[i])``, with replacement.

    ``t`` may be a 1-D array of rounds: the result is then ``(len(t), len(agents),
    count)``, each slice equal to that round's draw. ``agent_state``,
    ``hash_ints(seed, agents[:, None])``, may be passed to skip recomputing it.

    Examples
    --------
    >>> idx = uniform_indices(0, np.array([0, 1]), 3, 4, np.array([10, 2]))
    >>> idx.shape, bool((idx[1] < 2).all())
    ((2, 4), True)
    >>> bool((uniform_indices(0, np.array([0, 1]), np.arange(5), 4, np.array([10, 2]))[3] == idx).all())
    True
    """
    if agent_state is None:
        agent_state = hash_ints(seed, agents[:, None])
    rounds = np.asarray(t, dtype=np.uint64)
    modulus = sizes.astype(np.uint64)[:, None]
    if rounds.ndim == 0:
        h = hash_ints(rounds, np.arange(count)[None, :], 0x5A17, state=agent_state)
    else:
        h = hash_ints(
            rounds[:, None, None], np.arange(count)[None, None, :], 0x5A17, state=agent_state[None]
        )
    return (h % modulus).astype(np.int64)


def agent_seed(seed: int, agent: int, purpose: int = 0) -> int:
    """A 63-bit seed for agent ``agent`` (e.g. its initialisation)."""
    return int(hash_ints(seed, agent, purpose, 0x1A17)) >> 1
