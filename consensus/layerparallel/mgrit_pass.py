"""One gradient of a layer-parallel agent by multigrid in layers: forward solve, adjoint solve, sweep.

The stem runs on the first stage, the residual chain's states by MGRIT
(:class:`~consensus.layerparallel.mgrit_solver.MGRIT`) with
``Phi(u) = u + (t1 - t0) h F_{t0}(u)``, the head and the loss on the last
stage. The adjoint ``lambda_k = lambda_{k+1} + h J_k(u_k)^T lambda_{k+1}`` runs
by MGRIT in reverse layer order (its coarse steps linearized at the fine states
of their first layer, with the coarse step size); its last fine sweep also
takes every layer's parameter gradient ``h (dF_k/dtheta_k)^T lambda_{k+1}``,
and the stem's comes from ``lambda_0``. With exact solves this is the serial
gradient; with few iterations an inexact one.

The same code runs in one process (owning every stage) and on each stage
process of a mesh (owning its own); :class:`~consensus.layerparallel.mgrit_solver.Transport`
hides the difference.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch

from ..losses import Loss
from ..objective import Batch
from .layers import Layer
from .mgrit import MGRITMethod, ResidualChain
from .mgrit_solver import MGRIT, Step, Transport, grids


def _leaves(layers: tuple[Layer, ...], P: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: P[k].detach().requires_grad_(True) for layer in layers for k in layer.params}


class MGRITPass:
    """The gradient pass of the hosted agents (this process's stages of them).

    Parameters
    ----------
    chain : ResidualChain
        Stem, steps and head, with the stage of each step.
    method : MGRITMethod
        Levels, coarsening, relaxation, iterations, tolerance.
    loss : Loss
        The loss (used on the last stage).
    """

    def __init__(self, chain: ResidualChain, method: MGRITMethod, loss: Loss):
        self.chain, self.method, self.loss = chain, method, loss
        #: Per-agent residual norms of each forward / adjoint iteration of the last pass.
        self.forward_residuals: list[torch.Tensor] = []
        self.adjoint_residuals: list[torch.Tensor] = []
        #: Step applications on this process in the last pass (forward, adjoint).
        self.work = (0, 0)
        self.summed = method.coarse == "sum"
        #: (layer, stage): a summed coarse step on ``stage`` needs the weights of that other stage's layer.
        self.borrowed = borrowed(chain.owners, method) if self.summed else []

    def _borrow(self, P: dict[str, torch.Tensor], n: int, tr: Transport) -> dict[str, torch.Tensor]:
        """``P`` with the weights of other stages' layers that this process's summed coarse steps use.

        Every process makes the same messages in the same order (once per pass:
        the weights do not change within it).
        """
        out = dict(P)
        for k, dst in self.borrowed:
            src = self.chain.owners[k]
            for name in self.chain.steps[k].params:
                shape = (n, *self.chain.shapes[name])
                x = tr.move(P[name] if tr.mine(src) else None, src, dst, shape)
                if x is not None and tr.mine(dst) and not tr.mine(src):
                    out[name] = x
        return out

    def _solver(self, owners: list[int], end: int, step: Step, sweep: bool, tr: Transport) -> MGRIT:
        m = self.method
        return MGRIT(
            owners, end, self.chain.stages, step, tr,
            cfactor=m.cfactor, levels=m.levels, relax=m.relax, param_sweep=sweep,
            nested=m.init == "nested", cost=(lambda t0, t1: t1 - t0) if self.summed else None,
        )  # fmt: skip

    def run(
        self,
        P: dict[str, torch.Tensor],
        G: dict[str, torch.Tensor],
        batch: Batch,
        tr: Transport,
    ) -> torch.Tensor | None:
        """Fill ``G`` (this process's parameters) with the gradients; the losses on the last stage.

        ``P`` and ``G`` are views by full parameter name of this process's
        parameters and gradient (every stage's in one process); ``tr`` says
        which stages this process computes and carries the messages between them.
        """
        chain, m = self.chain, self.method
        N, last = chain.length, chain.stages - 1
        n, B = batch.x.shape[:2]
        like = batch.x.new_empty((n, B, *chain.state))

        # Stem (stage 0) -> u_0 on the owner of the first step.
        u0 = stem = None
        pre = _leaves(chain.pre, P) if tr.mine(0) else {}
        if tr.mine(0):
            with torch.enable_grad():
                stem = batch.x
                for layer in chain.pre:
                    stem = layer.forward(pre, stem)
            u0 = stem.detach()
        u0 = tr.move(u0, 0, chain.owners[0])

        W = self._borrow(P, n, tr) if self.borrowed else P

        def forward_step(t0: int, t1: int, u: torch.Tensor, final: bool) -> torch.Tensor:
            with torch.no_grad():
                if self.summed and t1 - t0 > 1:  # u + sum_k h_k F_k(u), each layer's own weights
                    return u + _summed(chain.steps, range(t0, t1), W, u)
                layer = chain.steps[t0]
                assert layer.residual is not None
                return u + ((t1 - t0) * layer.h) * layer.residual(P, u)

        fwd = self._solver(list(chain.owners), last, forward_step, False, tr)
        states, self.forward_residuals = fwd.solve(u0, like, m.fwd_iters, m.tol)

        # Head and loss (last stage) -> lambda_N on the owner of the last step.
        losses = lam_N = None
        if tr.mine(last):
            post = _leaves(chain.post, P)
            with torch.enable_grad():
                leaf = states[N].detach().requires_grad_(True)
                out = leaf
                for layer in chain.post:
                    out = layer.forward(post, out)
                losses, g_out = self.loss.value_and_grad(out, batch.y, batch.w)
                grads = torch.autograd.grad(out, [*post.values(), leaf], g_out)
            for name, g in zip(post, grads, strict=False):
                G[name].copy_(g)
            lam_N = grads[-1]
        lam_N = tr.move(lam_N, last, chain.owners[N - 1])

        graphs: dict[int, tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]] = {}

        def graph(k: int) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
            """Layer k's residual at u_k, with its graph (kept for every adjoint product)."""
            if k not in graphs:
                layer = chain.steps[k]
                assert layer.residual is not None
                leaves = _leaves((layer,), P)
                with torch.enable_grad():
                    u = states[k].detach().requires_grad_(True)
                    graphs[k] = (leaves, u, layer.residual(leaves, u))
            return graphs[k]

        sums: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor]] = {}

        def summed_graph(t0: int, t1: int) -> tuple[torch.Tensor, torch.Tensor]:
            """``sum_k h_k F_k(u)`` over the step's layers at the state of its first (the top) layer."""
            if (t0, t1) not in sums:
                with torch.enable_grad():
                    u = states[N - 1 - t0].detach().requires_grad_(True)
                    sums[t0, t1] = (u, _summed(chain.steps, range(N - t1, N - t0), W, u))
            return sums[t0, t1]

        def adjoint_step(t0: int, t1: int, lam: torch.Tensor, final: bool) -> torch.Tensor:
            if self.summed and t1 - t0 > 1:
                u, out = summed_graph(t0, t1)
                return lam + torch.autograd.grad(out, u, lam, retain_graph=True)[0]
            k = N - 1 - t0
            leaves, u, out = graph(k)
            cot = lam * ((t1 - t0) * chain.steps[k].h)
            if not final:
                return lam + torch.autograd.grad(out, u, cot, retain_graph=True)[0]
            grads = torch.autograd.grad(out, [*leaves.values(), u], cot, retain_graph=True)
            for name, g in zip(leaves, grads, strict=False):
                G[name].copy_(g)
            return lam + grads[-1]

        adj = self._solver([chain.owners[N - 1 - i] for i in range(N)], 0, adjoint_step, True, tr)
        lams, self.adjoint_residuals = adj.solve(lam_N, like, m.bwd_iters, m.tol)
        graphs.clear()
        sums.clear()
        self.work = (fwd.steps_run, adj.steps_run)

        if tr.mine(0) and chain.pre:
            assert stem is not None
            grads = torch.autograd.grad(stem, list(pre.values()), lams[N])
            for name, g in zip(pre, grads, strict=True):
                G[name].copy_(g)
        return None if losses is None else losses.detach()


def borrowed(owners: Sequence[int], method: MGRITMethod) -> list[tuple[int, int]]:
    """``(layer, stage)`` pairs: a summed coarse step run by ``stage`` uses that other stage's layer.

    A coarse step runs on the stage of its input point: in the forward solve the
    interval's first layer's, in the adjoint (points counted from the end) its
    last layer's.

    Examples
    --------
    >>> borrowed([0, 0, 1, 1, 1], MGRITMethod(cfactor=4))  # coarse intervals 0-3 and 4
    [(1, 1), (2, 0), (3, 0)]
    """
    N, need = len(owners), set[tuple[int, int]]()
    for points in grids(N, method.cfactor, method.levels)[1:]:
        for t0, t1 in itertools.pairwise(points):
            for layers, runner in ((range(t0, t1), t0), (range(N - t1, N - t0), N - 1 - t0)):
                need.update((k, owners[runner]) for k in layers if owners[k] != owners[runner])
    return sorted(need)


def _summed(
    steps: tuple[Layer, ...], layers: range, W: dict[str, torch.Tensor], u: torch.Tensor
) -> torch.Tensor:
    """``sum_k h_k F_k(u)`` over ``layers``: the interval's layers side by side at one state."""
    total = None
    for k in layers:
        layer = steps[k]
        assert layer.residual is not None
        term = layer.h * layer.residual(W, u)
        total = term if total is None else total + term
    assert total is not None
    return total
