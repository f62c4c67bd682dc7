"""The all-reduce baseline: an exact average every round."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .base import Algorithm, Context, State


@dataclass
class Centralized(Algorithm):
    """``X <- prox(mean(X - lr d))``: (proximal) minibatch SGD with the average gradient of all agents.

    What data-parallel training with an all-reduce computes; the reference the
    decentralized methods are measured against.
    """

    name = "centralized"
    requires = ()
    state_vectors = 1
    lr: float = 0.1
    momentum: float = 0.0

    def init(self, X: torch.Tensor) -> State:
        return {"m": torch.zeros_like(X)}

    def update(
        self, X: torch.Tensor, G: torch.Tensor, state: State, ctx: Context
    ) -> tuple[torch.Tensor, State]:
        g = ctx.reg.add_smooth_grad(G, X)
        m = g if self.momentum == 0 else torch.add(g, state["m"], alpha=self.momentum)
        V = torch.add(X, m, alpha=-self.lr, out=None if self.momentum else m)  # G is handed over
        (X_avg,) = ctx.global_mean(V)
        return ctx.reg.prox_l1(X_avg, self.lr), ({"m": m} if self.momentum else state)
