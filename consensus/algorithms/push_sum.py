"""Push-sum for directed graphs: SGP, and Push-DIGing with gradient tracking."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .base import Algorithm, Context, State, prox_step


@dataclass
class PushSum(Algorithm):
    """Push-sum on column-stochastic weights P (directed graphs).

    Each agent keeps a numerator ``U`` and a weight ``v``; its model is
    ``Z = U / v``. With ``tracking=True`` (default) this is Push-DIGing
    (Nedić, Olshevsky, Shi 2017): ``U <- P (U - lr Y)``, ``v <- P v``,
    ``Y <- P Y + G(Z_new) - G(Z_old)``, exact with a constant step. With
    ``tracking=False`` it is SGP (Assran et al. 2019): ``U <- P (U - lr G(Z))``.
    """

    name = "push_sum"
    requires = ("column_stochastic",)
    state_vectors = 3
    lr: float = 0.1
    tracking: bool = True

    def init(self, X: torch.Tensor) -> State:
        zero = torch.zeros_like(X)
        return {"U": X.clone(), "v": torch.ones_like(X[:, :1]), "PY": zero, "G_prev": zero.clone()}

    def update(
        self, X: torch.Tensor, G: torch.Tensor, state: State, ctx: Context
    ) -> tuple[torch.Tensor, State]:
        g = ctx.reg.add_smooth_grad(G, X)
        if not self.tracking:
            U, v = ctx.mix(torch.add(state["U"], g, alpha=-self.lr), state["v"])
            Z = prox_step(ctx, U / v, self.lr)
            return Z, {**state, "U": Z * v, "v": v}
        Y = torch.add(state["PY"], g).sub_(state["G_prev"])
        U, v, PY = ctx.mix(torch.add(state["U"], Y, alpha=-self.lr), state["v"], Y)
        Z = U / v
        if ctx.reg.l1:
            Z = prox_step(ctx, Z, self.lr)
            U = Z * v
        return Z, {"U": U, "v": v, "PY": PY, "G_prev": g}
