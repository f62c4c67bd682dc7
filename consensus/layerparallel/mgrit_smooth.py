"""Smoothness in depth of a residual chain's weights: the regularizer of layer-parallel training.

Multigrid in layers coarsens the chain ``u_{k+1} = u_k + h F(u_k; theta_k)``:
a coarse step stands for ``m`` layers with the weights of one. That is a good
approximation when the weights vary smoothly from layer to layer, which plain
training does not keep (each layer's weights move on their own). Günther,
Ruthotto, Schroder, Cyr and Gauger (SIMODS 2020, arXiv 1812.04352) add the
regularization in time

.. math::

    R(\\theta) = \\frac{\\alpha}{2} \\sum_k h_k \\left\\|\\frac{\\theta_{k+1} - \\theta_k}{h_k}\\right\\|^2
               = \\frac{\\alpha}{2} \\sum_k \\frac{\\|\\theta_{k+1} - \\theta_k\\|^2}{h_k}

over consecutive residual steps (``h_k``: the first step's size), which
``--layer-parallel mgrit:smooth=ALPHA`` adds to every agent's objective. Its
gradient needs a stage's neighbours' boundary weights: one message each way
per stage boundary and round.

Examples
--------
>>> import torch
>>> from consensus.models.chain import Layer
>>> from consensus.layerparallel.mgrit_objective import LocalTransport
>>> step = lambda name: Layer(name, (name + ".w",), lambda p, u: u, lambda p, u: u, 0.5)
>>> smooth = DepthSmoothing((step("a"), step("b")), (0, 1), 1.0, {"a.w": (1,), "b.w": (1,)})
>>> P = {"a.w": torch.tensor([[1.0]]), "b.w": torch.tensor([[3.0]])}
>>> G = {k: torch.zeros(1, 1) for k in P}
>>> smooth.add_gradient(P, G, LocalTransport(lambda x: None))
>>> G["a.w"].item(), G["b.w"].item()  # alpha / h * (theta_a - theta_b), and its negative
(-4.0, 4.0)
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch

from ..errors import ConfigError
from ..models.chain import Layer
from .mgrit_solver import Transport


class DepthSmoothing:
    """``(alpha / 2) sum_k ||theta_{k+1} - theta_k||^2 / h_k`` over a chain of residual steps.

    Parameters
    ----------
    steps : sequence of Layer
        The residual steps in order; consecutive ones must have parameters of the same shapes.
    owners : sequence of int
        The stage hosting each step.
    alpha : float
        The weight ``alpha >= 0`` (0: no regularizer, no messages).
    shapes : dict
        Per-sample shape of each parameter (consecutive steps' must match when ``alpha > 0``).
    """

    def __init__(
        self,
        steps: Sequence[Layer],
        owners: Sequence[int],
        alpha: float,
        shapes: dict[str, tuple[int, ...]],
    ):
        self.steps, self.owners, self.alpha = tuple(steps), tuple(owners), float(alpha)
        for a, b in itertools.pairwise(self.steps if alpha > 0 else ()):
            if [shapes[p] for p in a.params] != [shapes[q] for q in b.params]:
                raise ConfigError(
                    f"mgrit: smooth needs consecutive residual steps with parameters of the same "
                    f"shapes; {a.name!r} and {b.name!r} differ (use smooth=0)"
                )

    def value(self, P: dict[str, torch.Tensor]) -> torch.Tensor:
        """``R`` of every agent (shape ``(n,)``), from the full parameters ``P`` (one process)."""
        total = None
        for a, b in itertools.pairwise(self.steps):
            for p, q in zip(a.params, b.params, strict=True):
                d = (P[q] - P[p]).reshape(P[p].shape[0], -1)
                term = d.square().sum(1) * (0.5 * self.alpha / a.h)
                total = term if total is None else total + term
        assert total is not None
        return total

    def add_gradient(
        self, P: dict[str, torch.Tensor], G: dict[str, torch.Tensor], tr: Transport
    ) -> None:
        """Add ``grad R`` to ``G`` on the stages this process computes (views by parameter name).

        Where two consecutive steps sit on different stages, each side sends its
        step's weights to the other (every process makes the same calls in the
        same order, as the solver does).
        """
        if self.alpha == 0:
            return
        for k in range(len(self.steps) - 1):
            a, b = self.steps[k], self.steps[k + 1]
            sa, sb = self.owners[k], self.owners[k + 1]
            wa = _flat(P, a.params) if tr.mine(sa) else None
            wb = _flat(P, b.params) if tr.mine(sb) else None
            like = wa if wa is not None else wb
            shape = None if like is None else tuple(like.shape)
            wa_at_b = tr.move(wa, sa, sb, shape) if sa != sb else wa
            wb_at_a = tr.move(wb, sb, sa, shape) if sa != sb else wb
            c = self.alpha / a.h
            if wa is not None and wb_at_a is not None:  # d R / d theta_k = c (theta_k - theta_k+1)
                _add(G, a.params, wa - wb_at_a, c)
            if wb is not None and wa_at_b is not None:
                _add(G, b.params, wb - wa_at_b, c)


def _flat(P: dict[str, torch.Tensor], names: Sequence[str]) -> torch.Tensor:
    return torch.cat([P[name].reshape(P[name].shape[0], -1) for name in names], dim=1)


def _add(G: dict[str, torch.Tensor], names: Sequence[str], d: torch.Tensor, c: float) -> None:
    start = 0
    for name in names:
        size = G[name][0].numel()
        G[name].add_(d[:, start : start + size].reshape(G[name].shape), alpha=c)
        start += size
