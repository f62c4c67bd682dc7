"""NIDS / exact diffusion (Li, Shi, Yan 2019; Yuan et al. 2019)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .base import Algorithm, Context, State, prox_step


@dataclass
class NIDS(Algorithm):
    """Adapt ``P = X - lr G``, correct ``Phi = P + X - P_prev``, combine ``X <- W~ Phi``, ``W~ = (I + W)/2``.

    Equal to ``X(k+1) = W~ (2 X(k) - X(k-1) - lr (G(k) - G(k-1)))``; exact with a
    constant step, on symmetric doubly stochastic weights.
    """

    name = "nids"
    requires = ("symmetric", "doubly_stochastic")
    state_vectors = 1
    lr: float = 0.1

    def init(self, X: torch.Tensor) -> State:
        return {"P_prev": X.clone()}

    def update(
        self, X: torch.Tensor, G: torch.Tensor, state: State, ctx: Context
    ) -> tuple[torch.Tensor, State]:
        g = ctx.reg.add_smooth_grad(G, X)
        P = torch.add(X, g, alpha=-self.lr, out=g)  # G is handed over: reuse its memory
        Phi = torch.add(P, X).sub_(state["P_prev"])
        (WPhi,) = ctx.mix(Phi)
        return prox_step(ctx, torch.add(Phi, WPhi).mul_(0.5), self.lr), {"P_prev": P}
