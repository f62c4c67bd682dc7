"""Ranks agree on bad input before they go on, so that rank 0 reports it once and all exit 2.

Under torchrun every rank parses and validates the same command on its own. Most bad input
fails on every rank alike, but not all of it: a TOML or graph file missing on one node, a
local rank without a GPU. A rank that stops alone leaves the others waiting for it in the
process group until torchrun kills them, and if it is not rank 0 its message is never printed.
So after each phase that may fail (parsing, validation, restoring a checkpoint) every rank posts
its outcome to the launch's key-value store (plain strings, no pickles, no process group
needed) and reads everybody's: all ranks then raise the same :class:`ConfigError`, the first
failing rank's message, which the command line prints on rank 0 only.
"""

from __future__ import annotations

import os

from ..errors import ConfigError


def _world() -> tuple[int, int]:
    env = os.environ
    if "RANK" not in env or "WORLD_SIZE" not in env:
        return 0, 1
    return int(env["RANK"]), int(env["WORLD_SIZE"])


def check(phase: str, error: Exception | None, timeout: float = 300.0) -> None:
    """Raise the first rank's error of ``phase`` on every rank; return when no rank failed.

    Parameters
    ----------
    phase : str
        A name unique within one launch attempt ("parse", "validate", ...).
    error : Exception or None
        This rank's failure of the phase (its message is what gets reported), or None.
    timeout : float
        Seconds to wait for the other ranks (at least 30).
    """
    rank, world = _world()
    if world == 1:
        if error is not None:
            raise error
        return
    from .launch import rendezvous_store

    store = rendezvous_store(timeout)
    store.set(f"agree/{phase}/{rank}", "ok" if error is None else f"!{error}")
    keys = [f"agree/{phase}/{r}" for r in range(world)]
    store.wait(keys)
    posted = [store.get(k).decode() for k in keys]
    failures = [(r, v[1:]) for r, v in enumerate(posted) if v.startswith("!")]
    if not failures:
        return
    # Rank 0 may host the store (a launch without torchrun's agent): it leaves last.
    store.set(f"agree/{phase}/read/{rank}", "1")
    if rank == 0:
        store.wait([f"agree/{phase}/read/{r}" for r in range(world)])
    first, message = failures[0]
    raise ConfigError(message if first == 0 else f"rank {first}: {message}") from None
