"""D-PSGD: adapt then combine, with (Nesterov) momentum as in SGP and BlueFog."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .base import Algorithm, Context, State, prox_step


@dataclass
class DSGD(Algorithm):
    """``m <- beta m + g``; ``X <- W (X - lr * d)``, d = m (heavy ball) or g + beta m (Nesterov).

    Lian et al. 2017 (D-PSGD); momentum as in Assran et al. 2019 (SGP).
    """

    name = "dsgd"
    requires = ("doubly_stochastic",)
    state_vectors = 1
    lr: float = 0.1
    momentum: float = 0.0
    nesterov: bool = False

    def init(self, X: torch.Tensor) -> State:
        return {"m": torch.zeros_like(X)}

    def update(
        self, X: torch.Tensor, G: torch.Tensor, state: State, ctx: Context
    ) -> tuple[torch.Tensor, State]:
        g = ctx.reg.add_smooth_grad(G, X)
        if self.momentum == 0:
            # No buffer to carry; g is ours (G is handed over, or g = G + l2 X is new).
            (X_new,) = ctx.mix(prox_step(ctx, torch.add(X, g, alpha=-self.lr, out=g), self.lr))
            return X_new, state
        m = torch.add(g, state["m"], alpha=self.momentum)
        d = torch.add(g, m, alpha=self.momentum) if self.nesterov else m
        (X_new,) = ctx.mix(prox_step(ctx, torch.add(X, d, alpha=-self.lr), self.lr))
        return X_new, {"m": m}
