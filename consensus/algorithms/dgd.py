"""DGD: decentralized gradient descent, combine then adapt."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .base import Algorithm, Context, State, prox_step


@dataclass
class DGD(Algorithm):
    """``X <- W X - lr * (G + grad r)`` (Nedić & Ozdaglar 2009).

    With a constant step the agents settle near, not at, the optimum: the fixed
    point solves ``(I - W) X = -lr G(X)``, a bias of order ``lr / (1 - lambda_2)``.
    """

    name = "dgd"
    requires = ("doubly_stochastic",)
    lr: float = 0.1

    def update(
        self, X: torch.Tensor, G: torch.Tensor, state: State, ctx: Context
    ) -> tuple[torch.Tensor, State]:
        (WX,) = ctx.mix(X)
        g = ctx.reg.add_smooth_grad(G, X)
        return prox_step(ctx, WX.sub_(g, alpha=self.lr), self.lr), state  # WX is ours
