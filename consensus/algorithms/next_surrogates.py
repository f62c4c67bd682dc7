"""NEXT's local step: the surrogate subproblem of every agent, solved in one batch.

Each solver returns ``X~ = argmin_x U_i(x; x_i) + pi~_i^T (x - x_i) + r(x)`` for
all hosted agents at once. ``Y`` is the tracked global gradient (F's scale) and
``G`` the local gradient of ``n * f_i``, so ``pi~_i = Y_i - G_i / n``.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch

from .base import Context

Solver = Callable[[Any, torch.Tensor, torch.Tensor, torch.Tensor, Context], torch.Tensor]


def linearized(
    alg: Any, X: torch.Tensor, Y: torch.Tensor, G: torch.Tensor, ctx: Context
) -> torch.Tensor:
    """Full linearization + proximal term: ``X~ = prox_{r/tau}(X - Y / tau)`` (closed form).

    r = 0: ``X - Y/tau``; l2: ``(tau X - Y) / (tau + lam)``; l1: soft threshold at ``lam/tau``.
    """
    return ctx.reg.prox(torch.add(X, Y, alpha=-1.0 / alg.tau), 1.0 / alg.tau)


def _solve_partial(
    alg: Any, X: torch.Tensor, Y: torch.Tensor, G: torch.Tensor, ctx: Context, cols: slice | None
) -> torch.Tensor:
    """Accelerated proximal gradient on the partially linearized subproblem, optionally in one block of columns.

    Minimizes over V (rows independent)::

        (1/n) sum_b w * loss(out + J V) + (Y - G/n)^T V + (tau/2) ||V||^2 + r(X + V)

    where J is the Jacobian of the outputs in the block's parameters (the other
    blocks frozen). The step is ``1 / (tau + L)`` with L from a few power
    iterations of ``J^T diag(w) J``.
    """
    oracle, batch, n = ctx.oracle, ctx.batch, ctx.n_total
    out, push, pull = oracle.linearization(X, batch)

    def restrict(V: torch.Tensor) -> torch.Tensor:
        if cols is None:
            return V
        M = torch.zeros_like(V)
        M[:, cols] = V[:, cols]
        return M

    w = batch.w.unsqueeze(-1)
    u = restrict(
        torch.randn(X.shape, generator=torch.Generator().manual_seed(ctx.t), dtype=X.dtype).to(
            X.device
        )
    )
    lam = torch.zeros(X.shape[0], 1, dtype=X.dtype, device=X.device)
    for _ in range(alg.power_iterations):
        u = u / u.norm(dim=1, keepdim=True).clamp_min(1e-30)
        Au = restrict(pull(w * push(u)))
        lam = (Au * u).sum(1, keepdim=True).clamp_min(0.0)
        u = Au
    L = oracle.curvature * 1.2 * lam / n + 1e-12
    step = 1.0 / (alg.tau + L)
    c = restrict(Y - G / n)
    reg_step = step
    V = torch.zeros_like(X)
    V_prev, momentum_t = V, 1.0
    for _ in range(alg.inner_steps):
        t_next = (1.0 + (1.0 + 4.0 * momentum_t**2) ** 0.5) / 2.0
        S = V + ((momentum_t - 1.0) / t_next) * (V - V_prev)
        _, dout = oracle.output_loss_grad(out + push(S), batch)
        grad = restrict(pull(dout)) / n + c + alg.tau * S
        V_prev, V = V, restrict(ctx.reg.prox(X + S - reg_step * grad, reg_step) - X)
        momentum_t = t_next
    if cols is not None:
        return V[:, cols]
    return V


def partial(
    alg: Any, X: torch.Tensor, Y: torch.Tensor, G: torch.Tensor, ctx: Context
) -> torch.Tensor:
    """Partial linearization: keep the convex loss, linearize the network output (a jvp), solve inexactly."""
    return X + _solve_partial(alg, X, Y, G, ctx, None)


def block_partial(
    alg: Any, X: torch.Tensor, Y: torch.Tensor, G: torch.Tensor, ctx: Context
) -> torch.Tensor:
    """Partial linearization per block (layer), other blocks frozen; blocks solved concurrently.

    The surrogate is block-separable, so each layer's subproblem is independent:
    ``workers`` threads solve them at once (torch releases the GIL in its kernels).
    """
    blocks = ctx.oracle.layout.blocks()
    out = X.clone()
    with ThreadPoolExecutor(max_workers=max(1, alg.workers)) as pool:
        parts = list(pool.map(lambda s: (s, _solve_partial(alg, X, Y, G, ctx, s)), blocks))
    for s, V in parts:
        out[:, s] = X[:, s] + V
    return out


#: Surrogate name -> solver.
SURROGATES: dict[str, Solver] = {"linear": linearized, "partial": partial, "block": block_partial}
