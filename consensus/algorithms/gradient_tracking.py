"""Gradient tracking (DIGing, adapt-then-combine)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .base import Algorithm, Context, State, prox_step


@dataclass
class GradientTracking(Algorithm):
    """``X <- W (X - lr Y)``; ``Y <- W Y + G(X_new) - G(X_old)`` (Nedić, Olshevsky, Shi 2017).

    ``Y`` tracks the average gradient, so a constant step reaches the exact
    optimum, also on time-varying doubly stochastic graphs. One exchange of two
    vectors (``X - lr Y`` and ``Y``) per round: the state keeps ``W Y`` from the
    previous round and the previous gradient.
    """

    name = "gradient_tracking"
    requires = ("doubly_stochastic",)
    state_vectors = 2
    lr: float = 0.1

    def init(self, X: torch.Tensor) -> State:
        zero = torch.zeros_like(X)
        return {"WY": zero, "G_prev": zero.clone()}

    def update(
        self, X: torch.Tensor, G: torch.Tensor, state: State, ctx: Context
    ) -> tuple[torch.Tensor, State]:
        g = ctx.reg.add_smooth_grad(G, X)
        Y = torch.add(state["WY"], g).sub_(state["G_prev"])  # Y_0 = G_0
        X_new, WY = ctx.mix(prox_step(ctx, torch.add(X, Y, alpha=-self.lr), self.lr), Y)
        return X_new, {"WY": WY, "G_prev": g}
