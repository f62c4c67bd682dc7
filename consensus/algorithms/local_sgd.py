"""Local SGD: local steps, an exact average every H rounds."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import ConfigError
from .base import Algorithm, Context, State, prox_step


@dataclass
class LocalSGD(Algorithm):
    """``X <- X - lr d`` locally; every ``every`` rounds ``X <- mean(X)`` (Stich 2019).

    Needs no gossip graph: it communicates only through the exact average.
    """

    name = "local_sgd"
    requires = ()
    state_vectors = 1
    lr: float = 0.1
    every: int = 8
    momentum: float = 0.0

    def validate(self) -> None:
        super().validate()
        if self.every < 1:
            raise ConfigError(f"local_sgd: every={self.every} must be >= 1")

    def init(self, X: torch.Tensor) -> State:
        return {"m": torch.zeros_like(X)}

    def update(
        self, X: torch.Tensor, G: torch.Tensor, state: State, ctx: Context
    ) -> tuple[torch.Tensor, State]:
        g = ctx.reg.add_smooth_grad(G, X)
        m = g if self.momentum == 0 else torch.add(g, state["m"], alpha=self.momentum)
        X_new = prox_step(
            ctx, torch.add(X, m, alpha=-self.lr, out=None if self.momentum else m), self.lr
        )
        if (ctx.t + 1) % self.every == 0:
            (X_new,) = ctx.global_mean(X_new)
        return X_new, ({"m": m} if self.momentum else state)  # m unused without momentum
