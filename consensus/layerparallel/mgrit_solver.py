"""Nonlinear multigrid reduction in time (MGRIT, FAS) over a chain of steps owned by stage processes.

The chain ``u_{t+1} = Phi_t(u_t)``, ``t = 0..N-1``, with ``u_0`` given, is solved
by V-cycles as in XBraid (Falgout et al., SISC 2014; FAS for nonlinear steps:
Falgout, Manteuffel, O'Neill, Schroder, SISC 2017):

- level ``l`` has the points ``0, m^l, 2 m^l, ...`` and ``N`` (fine indices);
  its step ``i`` goes from point ``t_i`` to ``t_{i+1}`` with the caller's
  ``step(t_i, t_{i+1}, u)`` (for a ResNet: the residual step of the fine layer
  ``t_i`` with step size ``(t_{i+1} - t_i) h``);
- relaxation: F (every F-interval from its C-point, intervals independent, so
  in parallel) or FCF; the residual at the C-points; injection to the next
  level with the FAS right-hand side ``g_c = r + A_c(v)``; the coarsest grid
  solved sequentially; the C-points corrected from the coarse solution and an
  F-relaxation spreads the correction.

Every point belongs to a stage: point ``t < N`` to the stage of step ``t`` (the
step that reads it), point ``N`` to ``end_owner``. A step runs on the stage that
owns its input point; its output moves to the owner of its output point. The
owners never decrease along the chain, so every message goes one way (towards
higher stages in the forward solve, lower in the adjoint) and a stage only
ever waits for earlier ones: no deadlock with non-blocking sends. Every process
runs the same loops in the same order (computing only what it owns), so the
messages come in the same order everywhere, and the values are the same whether one process owns
every point (the simulator) or each stage is its own process.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Protocol

import torch

#: ``(t0, t1, u, final) -> u'``: one step of a level from fine point t0 to t1.
#: ``final`` marks the last fine sweep (where an adjoint accumulates parameter gradients).
Step = Callable[[int, int, torch.Tensor, bool], torch.Tensor]


class Transport(Protocol):
    """Where points live and how a value gets from one stage to another."""

    def mine(self, stage: int) -> bool:
        """Whether this process computes for ``stage``."""

    def move(
        self, x: torch.Tensor | None, src: int, dst: int, shape: tuple[int, ...] | None = None
    ) -> torch.Tensor | None:
        """``x`` (given on ``src``) delivered on ``dst``; None where this process is not ``dst``.

        Every process calls it for every message, in the same order (a message's
        number in that order can key it). ``shape``: the message's shape where it
        is not a state's (given on ``src`` and ``dst``).
        """

    def stage_sum(self, parts: list[torch.Tensor]) -> torch.Tensor:
        """Per-stage partial sums (this process fills its own) added in stage order, everywhere."""

    def world_max(self, v: torch.Tensor) -> float:
        """The largest entry of ``v`` over every process of the run."""


def grids(N: int, cfactor: int, levels: int) -> list[list[int]]:
    """The fine indices of each level's points, finest first (coarsening stops at one step).

    Examples
    --------
    >>> grids(10, 4, 3)
    [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [0, 4, 8, 10], [0, 10]]
    """
    out = [list(range(N + 1))]
    stride = 1
    while len(out) < levels and len(out[-1]) > 2:
        stride *= cfactor
        out.append([*range(0, N, stride), N])
    return out


class MGRIT:
    """An MGRIT solver for one chain.

    Parameters
    ----------
    owners : sequence of int
        Stage of each step ``t`` (non-decreasing, or non-increasing).
    end_owner : int
        Stage of the last point ``N``.
    stages : int
        Number of stages (of the agent's processes).
    step : Step
        The steps of every level.
    transport : Transport
        Ownership and messages.
    cfactor, levels, relax
        Coarsening factor, number of grids (capped where a grid has one step), "F" or "FCF".
    param_sweep : bool
        Whether the final fine sweep also runs the steps into C-points (with ``final=True``):
        an adjoint's parameter gradients need every step once at the converged states.
    nested : bool
        The initial guess: by nested iteration (the coarsest grid solved from ``u_0``
        in order, spread to each finer grid by an F-relaxation; XBraid's FMG start)
        instead of ``u_0`` at every point.
    cost : callable, optional
        ``cost(t0, t1)``: fine step applications that the step from point ``t0``
        to ``t1`` counts in the work count (default 1 per step).
    """

    def __init__(
        self,
        owners: Sequence[int],
        end_owner: int,
        stages: int,
        step: Step,
        transport: Transport,
        *,
        cfactor: int,
        levels: int,
        relax: str = "FCF",
        param_sweep: bool = False,
        nested: bool = False,
        cost: Callable[[int, int], int] | None = None,
    ):
        self.owners, self.end_owner = list(owners), end_owner
        self.N, self.stages = len(self.owners), stages
        self.step, self.tr = step, transport
        self.m, self.relax, self.param_sweep, self.nested = cfactor, relax, param_sweep, nested
        self.grids = grids(self.N, cfactor, levels)
        self.cost = cost or (lambda t0, t1: 1)
        self.steps_run = 0  # step applications on this process (the work count)

    @property
    def levels(self) -> int:
        """Grids in use (the requested number, capped at a grid of one step)."""
        return len(self.grids)

    def owner(self, t: int) -> int:
        """The stage of fine point ``t``."""
        return self.owners[t] if t < self.N else self.end_owner

    # -- building blocks ---------------------------------------------------------------

    def _apply(
        self, lev: int, i: int, u: dict[int, torch.Tensor], final: bool = False
    ) -> torch.Tensor | None:
        """Step ``i`` of level ``l`` on ``u[i]``, delivered to the owner of point ``i + 1``."""
        t0, t1 = self.grids[lev][i], self.grids[lev][i + 1]
        src, dst = self.owner(t0), self.owner(t1)
        y = None
        if self.tr.mine(src):
            y = self.step(t0, t1, u[i], final)
            self.steps_run += self.cost(t0, t1)
        return self.tr.move(y, src, dst)

    def _advance(
        self,
        lev: int,
        i: int,
        u: dict[int, torch.Tensor],
        g: dict[int, torch.Tensor],
        final: bool = False,
    ) -> None:
        """``u[i+1] = Phi(u[i]) + g[i+1]`` (on the owner of point ``i + 1``)."""
        y = self._apply(lev, i, u, final)
        if y is not None:
            u[i + 1] = y + g[i + 1] if i + 1 in g else y

    def _cpoints(self, lev: int) -> list[int]:
        """Level-``l`` indices of its C-points (the next level's points)."""
        n = len(self.grids[lev]) - 1
        return [i for i in range(n + 1) if i % self.m == 0 or i == n]

    def _f_relax(
        self, lev: int, u: dict[int, torch.Tensor], g: dict[int, torch.Tensor], final: bool = False
    ) -> None:
        cs = self._cpoints(lev)
        # Intervals from the last: each stage first does the one it hands on to the next stage.
        for c, c2 in reversed(list(itertools.pairwise(cs))):
            for i in range(c, c2 - 1):
                self._advance(lev, i, u, g, final)
            if final and self.param_sweep:  # the step into the C-point, for its parameters only
                t0 = self.grids[lev][c2 - 1]
                if self.tr.mine(self.owner(t0)):
                    self.step(t0, self.grids[lev][c2], u[c2 - 1], True)
                    self.steps_run += self.cost(t0, self.grids[lev][c2])

    def _c_relax(self, lev: int, u: dict[int, torch.Tensor], g: dict[int, torch.Tensor]) -> None:
        cs = self._cpoints(lev)
        for c2 in reversed(cs[1:]):
            self._advance(lev, c2 - 1, u, g)

    def _residual(
        self, lev: int, u: dict[int, torch.Tensor], g: dict[int, torch.Tensor]
    ) -> dict[int, torch.Tensor]:
        """``r_c = g_c - (u_c - Phi(u_{c-1}))`` at the C-points ``c > 0`` (on their owners)."""
        r: dict[int, torch.Tensor] = {}
        for c in reversed(self._cpoints(lev)[1:]):
            y = self._apply(lev, c - 1, u)
            if y is not None:
                r[c] = y - u[c] + g[c] if c in g else y - u[c]
        return r

    def _sequential(
        self, lev: int, u: dict[int, torch.Tensor], g: dict[int, torch.Tensor], final: bool
    ) -> None:
        for i in range(len(self.grids[lev]) - 1):
            self._advance(lev, i, u, g, final)

    def _relax(self, lev: int, u: dict[int, torch.Tensor], g: dict[int, torch.Tensor]) -> None:
        self._f_relax(lev, u, g)
        if self.relax == "FCF":
            self._c_relax(lev, u, g)
            self._f_relax(lev, u, g)

    def _correct(
        self,
        lev: int,
        u: dict[int, torch.Tensor],
        r: dict[int, torch.Tensor],
    ) -> None:
        """Restrict to level ``l + 1`` (injection, FAS), solve there, correct the C-points of ``l``."""
        cs, coarse = self._cpoints(lev), self.grids[lev + 1]
        v = {j: u[c] for j, c in enumerate(cs) if self.tr.mine(self.owner(coarse[j]))}
        gc: dict[int, torch.Tensor] = {}
        for j in reversed(range(1, len(cs))):  # g_c = r + v_j - Phi_c(v_{j-1})
            y = self._apply(lev + 1, j - 1, v)
            if y is not None:
                gc[j] = r[cs[j]] + v[j] - y
        w = dict(v)
        self._cycle(lev + 1, w, gc)
        for j, c in enumerate(cs):
            if j in w:
                u[c] = w[j]

    def _cycle(self, lev: int, u: dict[int, torch.Tensor], g: dict[int, torch.Tensor]) -> None:
        """One V-cycle below the finest level (the coarsest grid: a sequential solve)."""
        if lev == self.levels - 1:
            self._sequential(lev, u, g, False)
            return
        self._relax(lev, u, g)
        self._correct(lev, u, self._residual(lev, u, g))
        self._f_relax(lev, u, g)

    def _squares(self, r: dict[int, torch.Tensor], like: torch.Tensor) -> list[torch.Tensor]:
        """Per stage, the per-agent sum of squares of the fine residual at the C-points it owns."""
        parts = [like.new_zeros(like.shape[0]) for _ in range(self.stages)]
        for c, rc in r.items():
            o = self.owner(c)
            parts[o] = parts[o] + rc.reshape(rc.shape[0], -1).square().sum(dim=1)
        return parts

    def _nested_guess(self, u: dict[int, torch.Tensor]) -> None:
        """The fine C-points from the coarsest grid's solution, F-relaxed up through the levels between."""
        w = {0: u[0]} if 0 in u else {}
        self._sequential(self.levels - 1, w, {}, False)
        for lev in range(self.levels - 2, -1, -1):
            finer = {c: w[j] for j, c in enumerate(self._cpoints(lev)) if j in w}
            if lev > 0:
                self._f_relax(lev, finer, {})
            w = finer
        u.update(w)

    def _copy_guess(self, u: dict[int, torch.Tensor]) -> None:
        """``u_0`` at every point (each owner receives it once)."""
        first = self.owner(0)
        for dst in sorted({self.owner(t) for t in range(1, self.N + 1)}):
            x = u.get(0) if dst == first else self.tr.move(u.get(0), first, dst)
            if x is not None and self.tr.mine(dst):
                u.update({t: x for t in range(1, self.N + 1) if self.owner(t) == dst})

    # -- the solve -----------------------------------------------------------------------

    def solve(
        self, u0: torch.Tensor | None, like: torch.Tensor, iters: int, tol: float = 0.0
    ) -> tuple[dict[int, torch.Tensor], list[torch.Tensor]]:
        """The fine states this process owns, and the per-agent residual norm of each iteration.

        ``u0`` is given on the owner of point 0 (None elsewhere); ``like`` is any
        tensor of the states' shape, dtype and device (for norms and messages).
        The initial guess is ``u0`` at every point, or by nested iteration. Stops after ``iters``
        V-cycles or once every agent's residual (over the run) is below ``tol``.
        With one level the solve is sequential and exact in one iteration.
        """
        first = self.owner(0)
        u: dict[int, torch.Tensor] = {}
        if u0 is not None and self.tr.mine(first):
            u[0] = u0
        if self.levels == 1:
            self._sequential(0, u, {}, self.param_sweep)
            return u, [like.new_zeros(like.shape[0])]
        (self._nested_guess if self.nested else self._copy_guess)(u)
        # Per-stage squares of each iteration; added over the stages (a collective) at every
        # iteration only when a tolerance needs the norm, else once at the end.
        squares: list[list[torch.Tensor]] = []
        history: list[torch.Tensor] = []
        for it in range(iters):
            final = it == iters - 1
            self._relax(0, u, {})
            r = self._residual(0, u, {})
            squares.append(self._squares(r, like))
            if tol > 0:
                history.append(self.tr.stage_sum(squares.pop()).sqrt())
                if self.tr.world_max(history[-1]) < tol:
                    if self.param_sweep:
                        self._f_relax(0, u, {}, True)
                    break
            self._correct(0, u, r)
            self._f_relax(0, u, {}, final and self.param_sweep)
        if squares:  # (iterations, agents) per stage, added in one exchange
            stacked = [torch.stack(per_stage) for per_stage in zip(*squares, strict=True)]
            history = list(self.tr.stage_sum(stacked).sqrt().unbind(0))
        return u, history
