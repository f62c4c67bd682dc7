"""NEXT: in-network successive convex approximation (Di Lorenzo & Scutari 2016)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import ConfigError
from .base import Algorithm, Context, State
from .next_surrogates import SURROGATES


@dataclass
class NEXT(Algorithm):
    """NEXT as customized for neural networks (Scardapane & Di Lorenzo 2017).

    Per round, for every agent: (1) local step ``X~ = argmin U_i + pi~^T (x - x_i) + r``
    with surrogate ``linear`` (closed form), ``partial`` (linearized network
    output, the convex loss kept, solved by ``inner_steps`` accelerated proximal
    steps) or ``block`` (the same per layer, layers solved concurrently by
    ``workers`` threads); (2) ``Z = X + alpha (X~ - X)``; (3) ``X <- W Z``;
    (4) ``Y <- W Y + G(X_new) - G(X_old)``; (5) ``pi~ = Y - G / n``
    (the paper's ``n y - grad f_i`` in Concord's scaling, where G is the gradient of ``n f_i``).
    ``alpha[t] = alpha[t-1] (1 - eps alpha[t-1])``; ``eps = 0`` keeps it constant.
    Two vectors (Z and Y) cross each edge per round.
    """

    name = "next"
    requires = ("doubly_stochastic",)
    state_vectors = 2
    tau: float = 3.0
    alpha0: float = 1.0
    eps: float = 0.0
    surrogate: str = "linear"
    inner_steps: int = 10
    power_iterations: int = 4
    workers: int = 1

    def validate(self) -> None:
        super().validate()
        if self.surrogate not in SURROGATES:
            raise ConfigError(
                f"next: unknown surrogate {self.surrogate!r}; use one of {', '.join(SURROGATES)}"
            )
        if not 0 < self.alpha0 <= 1:
            raise ConfigError(f"next: alpha0={self.alpha0} must be in (0, 1]")
        if self.eps < 0 or (self.eps > 0 and self.eps >= 1 / self.alpha0):
            raise ConfigError(f"next: eps={self.eps} must satisfy 0 <= eps < 1/alpha0")

    def init(self, X: torch.Tensor) -> State:
        zero = torch.zeros_like(X)
        return {
            "WY": zero,
            "G_prev": zero.clone(),
            "alpha": torch.tensor(self.alpha0, dtype=X.dtype),
        }

    def update(
        self, X: torch.Tensor, G: torch.Tensor, state: State, ctx: Context
    ) -> tuple[torch.Tensor, State]:
        Y = torch.add(state["WY"], G).sub_(state["G_prev"])  # dynamic consensus; Y_0 = G_0
        X_tilde = SURROGATES[self.surrogate](self, X, Y, G, ctx)
        alpha = state["alpha"]
        Z = torch.lerp(X, X_tilde, alpha.to(X.device))  # X + alpha (X~ - X), one pass
        X_new, WY = ctx.mix(Z, Y)
        return X_new, {"WY": WY, "G_prev": G, "alpha": alpha * (1 - self.eps * alpha)}

    def step_size(self, state: State, t: int) -> float:
        return float(state["alpha"])
