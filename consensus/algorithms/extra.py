"""EXTRA (Shi, Ling, Wu, Yin 2015), in primal-dual form."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .base import Algorithm, Context, State, prox_step


@dataclass
class EXTRA(Algorithm):
    """``X(k+1) = W X(k) - lr G(k) - U(k)``; ``U(k+1) = U(k) + (X(k) - W X(k)) / 2``.

    For a fixed W this is exactly EXTRA's ``X(k+2) = (I + W) X(k+1) - W~ X(k)
    - lr (G(k+1) - G(k))`` with ``W~ = (I + W)/2``; the dual form needs one
    exchange of one vector per round and stays exact when W changes every round.
    Needs symmetric doubly stochastic weights.
    """

    name = "extra"
    requires = ("symmetric", "doubly_stochastic")
    state_vectors = 1
    lr: float = 0.1

    def init(self, X: torch.Tensor) -> State:
        return {"U": torch.zeros_like(X)}

    def update(
        self, X: torch.Tensor, G: torch.Tensor, state: State, ctx: Context
    ) -> tuple[torch.Tensor, State]:
        (WX,) = ctx.mix(X)
        g = ctx.reg.add_smooth_grad(G, X)
        U = torch.sub(X, WX).mul_(0.5).add_(state["U"])
        X_new = prox_step(ctx, WX.sub_(g, alpha=self.lr).sub_(state["U"]), self.lr)  # WX is ours
        return X_new, {"U": U}
