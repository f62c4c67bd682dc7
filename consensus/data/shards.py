"""Each local agent's shard as one padded tensor, plus its batch sampler."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import torch

from .datasets import Dataset
from .hashing import hash_ints, uniform_indices

_MAX_ROUNDS_PER_DRAW = 32
_MAX_INDICES_PER_DRAW = 1 << 18  # 2 MB of int64 indices at most


@dataclass
class Shards:
    """Training data of the agents hosted here, padded to the largest shard.

    ``X`` is ``(n_local, M, features)``, ``y`` is ``(n_local, M)``, ``counts[i]``
    the real size of agent i's shard, ``mask`` marks real rows. ``total`` is the
    number of training samples over all agents (N in F = (1/N) sum of losses).
    """

    X: torch.Tensor
    y: torch.Tensor
    counts: torch.Tensor
    mask: torch.Tensor
    agent_ids: np.ndarray
    total: int
    n_total: int
    _memo: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def n_local(self) -> int:
        """Number of agents hosted in this block."""
        return len(self.agent_ids)

    def full_batch(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The whole padded shard with per-sample weights ``n / N`` (0 on padding).

        With these weights, ``sum_b w * loss`` is ``n * f_i``: each agent's local
        gradient is an estimate of the global gradient on F's scale.
        """
        w = self.mask.to(self.X.dtype) * (self.n_total / self.total)
        return self.X, self.y, w

    def full_rows(self) -> torch.Tensor:
        """Every sample's position in its agent's padded shard, ``(n_local, M)`` (the full batch's rows)."""
        n, M = self.X.shape[:2]
        return torch.arange(M, device=self.X.device).expand(n, M)

    def batch_rows(self, seed: int, t: int, size: int) -> torch.Tensor:
        """Positions in each agent's padded shard of round ``t``'s minibatch, ``(n_local, size)``.

        Per-sample state (the auxiliary states of layer-parallel methods) is indexed by them.
        """
        n, M = self.X.shape[:2]
        flat = self._flat_indices(seed, t, size).view(n, size)
        return flat - torch.arange(n, device=flat.device)[:, None] * M

    def batch(
        self, seed: int, t: int, size: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """A minibatch of ``size`` samples per agent for round ``t``, drawn with replacement.

        The draw depends only on ``(seed, agent id, t)``. Weights
        ``n * N_i / (N * size)`` make ``sum_b w * loss`` unbiased for ``n * f_i``.
        """
        flat = self._flat_indices(seed, t, size)
        n, M = self.X.shape[:2]
        x = self.X.reshape(n * M, *self.X.shape[2:]).index_select(0, flat)
        y = self.y.reshape(n * M, *self.y.shape[2:]).index_select(0, flat)
        return (
            x.view(n, size, *self.X.shape[2:]),
            y.view(n, size, *self.y.shape[2:]),
            self._batch_weights(size),
        )

    @functools.cached_property
    def _index_base(self) -> tuple[np.ndarray, np.ndarray]:
        """Shard sizes and row offsets in the flattened shards, as NumPy (computed once)."""
        M = self.X.shape[1]
        return self.counts.cpu().numpy(), (np.arange(self.n_local, dtype=np.int64) * M)[:, None]

    def _flat_indices(self, seed: int, t: int, size: int) -> torch.Tensor:
        """Round t's sample rows in the flattened shards (row i of the padded shard starts at i * M).

        Drawn for a block of rounds at once: one vectorized hash instead of a
        dozen small NumPy calls every round.
        """
        per_round = self.n_local * size
        block = max(1, min(_MAX_ROUNDS_PER_DRAW, _MAX_INDICES_PER_DRAW // per_round))
        start = t - t % block
        key = ("indices", seed, size)
        cached = self._memo.get(key)
        if cached is None or cached[0] != start:
            counts, offsets = self._index_base
            idx = uniform_indices(
                seed,
                self.agent_ids,
                np.arange(start, start + block),
                size,
                counts,
                agent_state=self._agent_state(seed),
            )
            flat = torch.from_numpy((idx + offsets[None]).reshape(block, per_round))
            cached = self._memo[key] = (start, flat.to(self.X.device))
        return cached[1][t - start]

    def _agent_state(self, seed: int) -> np.ndarray:
        """The hash of (seed, agent id), the part of every draw that is fixed for the run."""
        key = ("agent_state", seed)
        if key not in self._memo:
            self._memo[key] = hash_ints(seed, self.agent_ids[:, None])
        return self._memo[key]

    def _batch_weights(self, size: int) -> torch.Tensor:
        """Per-sample weights ``n * N_i / (N * size)``, ``(n_local, size)``."""
        key = ("weights", size)
        if key not in self._memo:
            w = self.counts.to(self.X.dtype) * (self.n_total / (self.total * size))
            self._memo[key] = w[:, None].expand(-1, size)
        return self._memo[key]


def make_shards(
    dataset: Dataset,
    parts: list[np.ndarray],
    agent_ids: np.ndarray,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> Shards:
    """Pad the shards of ``agent_ids`` (indices into ``parts``) into one tensor."""
    local = [parts[int(a)] for a in agent_ids]
    M = max(len(p) for p in local)
    F = dataset.X_train.shape[1]
    X = np.zeros((len(local), M, F))
    y = np.zeros((len(local), M), dtype=dataset.y_train.dtype)
    mask = np.zeros((len(local), M), dtype=bool)
    for i, p in enumerate(local):  # once, at setup
        X[i, : len(p)] = dataset.X_train[p]
        y[i, : len(p)] = dataset.y_train[p]
        mask[i, : len(p)] = True
    y_dtype = torch.int64 if dataset.task == "classification" else dtype
    return Shards(
        X=torch.as_tensor(X, dtype=dtype, device=device),
        y=torch.as_tensor(y, device=device).to(y_dtype),
        counts=torch.as_tensor([len(p) for p in local], device=device),
        mask=torch.as_tensor(mask, device=device),
        agent_ids=np.asarray(agent_ids, dtype=np.int64),
        total=int(sum(len(p) for p in parts)),
        n_total=len(parts),
    )
