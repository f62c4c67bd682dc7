"""The regularizer r(x) = (l2/2)||x||^2 + l1 ||x||_1 over all parameters, and its prox."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .errors import ConfigError


def soft_threshold(v: torch.Tensor, k: float | torch.Tensor) -> torch.Tensor:
    """``sign(v) * max(|v| - k, 0)``, elementwise, computed as ``v - clip(v, -k, k)`` (two passes)."""
    return v - v.clamp(-k, k)  # type: ignore[arg-type]  # float or 0-d tensor bounds


@dataclass(frozen=True)
class Regularizer:
    """Elastic net ``r(x) = (l2 / 2) ||x||^2 + l1 ||x||_1`` (each part may be zero).

    Examples
    --------
    >>> r = Regularizer.parse("l1:0.5")
    >>> r.prox(torch.tensor([[1.0, -0.2]]), step=1.0).tolist()
    [[0.5, 0.0]]
    """

    l2: float = 0.0
    l1: float = 0.0

    @classmethod
    def parse(cls, spec: str | None) -> Regularizer:
        """``none``, ``l2:LAM``, ``l1:LAM`` or ``elastic:L1,L2``."""
        if spec is None or spec.strip().lower() in {"", "none"}:
            return cls()
        kind, _, arg = spec.partition(":")
        try:
            values = [float(a) for a in arg.split(",")] if arg else []
        except ValueError:
            raise ConfigError(
                f"regularizer {spec!r}: {arg!r} is not a number; write l2:0.01, l1:0.001 or elastic:L1,L2"
            ) from None
        forms = {
            "l2": lambda v: cls(l2=v[0]),
            "l1": lambda v: cls(l1=v[0]),
            "elastic": lambda v: cls(l1=v[0], l2=v[1]),
        }
        need = {"l2": 1, "l1": 1, "elastic": 2}
        if kind not in forms or len(values) != need[kind] or min(values) < 0:
            raise ConfigError(
                f"bad regularizer {spec!r}; write none, l2:LAM, l1:LAM or elastic:L1,L2 with LAM >= 0"
            )
        return forms[kind](values)

    def value(self, X: torch.Tensor) -> torch.Tensor:
        """r of every row of ``X`` (shape ``(n,)``)."""
        return 0.5 * self.l2 * (X * X).sum(-1) + self.l1 * X.abs().sum(-1)

    def smooth_grad(self, X: torch.Tensor) -> torch.Tensor:
        """Gradient of the smooth part ``(l2/2)||x||^2``."""
        return self.l2 * X

    def add_smooth_grad(self, G: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
        """``G + l2 * X`` (one fused pass); ``G`` itself without l2."""
        return G if self.l2 == 0 else torch.add(G, X, alpha=self.l2)

    def prox_l1(self, V: torch.Tensor, step: float | torch.Tensor) -> torch.Tensor:
        """Prox of ``step * l1 ||.||_1`` (identity without l1)."""
        return V if self.l1 == 0 else soft_threshold(V, step * self.l1)

    def prox(self, V: torch.Tensor, step: float | torch.Tensor) -> torch.Tensor:
        """Prox of ``step * r``: ``soft(V, step*l1) / (1 + step*l2)``."""
        out = self.prox_l1(V, step)
        return out if self.l2 == 0 else out / (1.0 + step * self.l2)

    def subgradient_residual(self, X: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        """Distance of ``-grad(smooth)`` from the subdifferential of r at X, per row (0 at an optimum)."""
        g = grad + self.l2 * X
        if self.l1 == 0:
            return g.norm(dim=-1)
        on = X != 0
        r = torch.where(on, g + self.l1 * torch.sign(X), torch.clamp(g.abs() - self.l1, min=0.0))
        return r.norm(dim=-1)

    def __str__(self) -> str:
        if self.l1 and self.l2:
            return f"elastic:{self.l1},{self.l2}"
        return f"l1:{self.l1}" if self.l1 else (f"l2:{self.l2}" if self.l2 else "none")
