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
        m = self.momentum * state["m"] + G + ctx.reg.smooth_grad(X)
        X_new = prox_step(ctx, X - self.lr * m, self.lr)
        if (ctx.t + 1) % self.every == 0:
            (X_new,) = ctx.global_mean(X_new)
        return X_new, {"m": m}
