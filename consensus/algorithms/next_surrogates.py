"""NEXT's local step: the surrogate subproblem of every agent, solved in one batch.

Each solver returns ``X~ = argmin_x U_i(x; x_i) + pi~_i^T (x - x_i) + r(x)`` for
all hosted agents at once. ``Y`` is the tracked global gradient (F's scale) and
``G`` the local gradient of ``n * f_i``, so ``pi~_i = Y_i - G_i / n``.
"""

from __future__ import annotations

from collections.abc import Callable
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
    alg: Any, X: torch.Tensor, Y: torch.Tensor, G: torch.Tensor, ctx: Context, blocks: bool
) -> torch.Tensor:
    """Accelerated proximal gradient on the partially linearized subproblem, every block at once.

    Minimizes over V (rows independent; with ``blocks`` each layer's block
    independent too, the other blocks frozen at X)::

        (1/n) sum_b w * loss(out + J_b V_b) + (Y - G/n)^T V + (tau/2) ||V||^2 + r(X + V)

    where J_b is the Jacobian of the outputs in block b's parameters. Block b's
    step is ``1 / (tau + L_b)`` with L_b from a few power iterations of
    ``J_b^T diag(w) J_b``. The blocks share every pass through the network
    (see :class:`~consensus.linearization.Linearization`), so a stage process
    of a layer-parallel agent solves its own layers while the other stages
    solve theirs.
    """
    oracle, batch, n = ctx.oracle, ctx.batch, ctx.n_total
    lin = oracle.linearization(X, batch, blocks=blocks, workers=alg.workers)
    K = lin.blocks
    w = batch.w.unsqueeze(-1)
    targets_y, targets_w = batch.y.repeat(K, *[1] * (batch.y.dim() - 1)), batch.w.repeat(K, 1)

    def loss_grad(outs: torch.Tensor) -> torch.Tensor:
        """``(K, n, B, C)``: the loss's gradient at each block's linearized outputs."""
        flat = outs.reshape(-1, *outs.shape[2:])
        return oracle.loss.value_and_grad(flat, targets_y, targets_w)[1].reshape(outs.shape)

    u = lin.start_vector(X.shape[0], X.dtype)
    lam = X.new_zeros(X.shape[0], lin.local_blocks)
    for _ in range(alg.power_iterations):
        u = u / lin.expand(lin.block_sum(u * u).sqrt().clamp_min(1e-30))
        Au = lin.pull(w * lin.push(u))
        lam = lin.block_sum(Au * u).clamp_min(0.0)
        u = Au
    L = oracle.curvature * 1.2 * lam / n + 1e-12
    step = lin.expand(1.0 / (alg.tau + L))
    c = Y - G / n
    V = torch.zeros_like(X)
    V_prev, momentum_t = V, 1.0
    for _ in range(alg.inner_steps):
        t_next = (1.0 + (1.0 + 4.0 * momentum_t**2) ** 0.5) / 2.0
        S = V + ((momentum_t - 1.0) / t_next) * (V - V_prev)
        dout = loss_grad(lin.out.unsqueeze(0) + lin.push(S))
        grad = lin.pull(dout) / n + c + alg.tau * S
        V_prev, V = V, ctx.reg.prox(X + S - step * grad, step) - X
        momentum_t = t_next
    return V


def partial(
    alg: Any, X: torch.Tensor, Y: torch.Tensor, G: torch.Tensor, ctx: Context
) -> torch.Tensor:
    """Partial linearization: keep the convex loss, linearize the network output (a jvp), solve inexactly."""
    return X + _solve_partial(alg, X, Y, G, ctx, blocks=False)


def block_partial(
    alg: Any, X: torch.Tensor, Y: torch.Tensor, G: torch.Tensor, ctx: Context
) -> torch.Tensor:
    """Partial linearization per block (layer), other blocks frozen; all blocks solved at once.

    The surrogate is block-separable, so each layer's subproblem is
    independent: they share the passes through the network, and on a mesh
    each stage process solves the blocks of its own layers. ``workers``
    threads compute the blocks' Jacobian products (torch releases the GIL in
    its kernels).
    """
    return X + _solve_partial(alg, X, Y, G, ctx, blocks=True)


#: Surrogate name -> solver.
SURROGATES: dict[str, Solver] = {"linear": linearized, "partial": partial, "block": block_partial}
