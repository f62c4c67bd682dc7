"""The serial-parallel hybrid (SPH): penalty / augmented-Lagrangian stages, corrected serially.

After Sun et al., "A practical layer-parallel training algorithm for residual
networks" (arXiv 2009.01462). Stages ``F_1..F_S``; for every training sample
``j`` of an agent, auxiliary states ``u_1..u_{S-1}`` at the stage boundaries
(``u_0 = x_j``). The agent's penalty function is

    P_i = sum_j w_j [ loss(F_S(u_{S-1,j}), y_j)
                      + sum_{s<S} (beta/2) ||D F_s(U u_{s-1,j}) - u_{s,j}||^2 + <mu_{s,j}, .> ]

with ``mu = 0`` for the penalty method and multipliers for the augmented
Lagrangian (``mu <- mu + beta r`` after each step). ``D`` and ``U`` are the
downsampling filter (average pooling by ``downsample`` per spatial dimension)
and its restoring interpolation (bilinear), identities when ``downsample = 1``;
states are stored and sent at the reduced resolution.

A **parallel round** is one Jacobi step of every stage at once, on the round's
samples: stage ``s`` needs only ``u_{s-1}`` (from stage ``s-1``) and its own
``u_s``; it returns its parameters' gradient of ``P_i`` (the consensus
algorithm takes the parameter step, so every algorithm runs on top unchanged)
and sends the gradient in its input back to stage ``s-1``, which takes a step
on its states: ``u_s <- u_s - (state_step / beta) dP/du_s``. With
``state_step = 1`` that is ``u_s = D F_s(U u_{s-1}) + (mu_s - g_s) / beta``:
the forward value nudged against the next stage's gradient ``g_s``, so the
next round's parameter gradient ``J^T (beta r + mu)`` is ``J^T g_s``, the
backpropagated gradient one step late per stage. ``inner_steps`` such steps
on the round's samples (the parameters fixed, the states moving) carry the
loss's gradient that many stages back within the round; the parameter
gradient returned is the last step's.

A **serial round** is an ordinary round of the exact pipeline (with data
augmentation, when configured). Every ``serial_every`` parallel rounds come
``serial_rounds`` serial ones; the first parallel round after them (and round
0) resets the states by a forward pass over the agent's whole shard (and the
multipliers to 0). ``serial_every = 0`` never corrects. ``beta`` grows by
``beta_growth`` per round.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F

from ..errors import ConfigError
from ..losses import Loss
from ..objective import Batch
from .schedules import SCHEDULES
from .split import Stage, StageSplit


@dataclass(frozen=True)
class SPHMethod:
    """Options of the serial-parallel hybrid.

    Examples
    --------
    >>> from consensus.layerparallel import resolve_method
    >>> m = resolve_method("sph:method=al,serial_every=4,serial_rounds=1")
    >>> [m.phase(t) for t in range(6)], m.resets(0), m.resets(5)
    (['parallel', 'parallel', 'parallel', 'parallel', 'serial', 'parallel'], True, True)
    """

    name: ClassVar[str] = "sph"
    method: Literal["penalty", "al"] = "penalty"
    beta: float = 0.1
    beta_growth: float = 1.0
    serial_every: int = 4
    serial_rounds: int = 1
    downsample: int = 1
    state_step: float = 1.0
    inner_steps: int = 1
    schedule: str = "1f1b"
    microbatches: int = 1

    def __post_init__(self) -> None:
        checks = [
            (self.beta > 0, f"beta={self.beta} must be > 0"),
            (self.beta_growth >= 1, f"beta_growth={self.beta_growth} must be >= 1"),
            (self.serial_every >= 0, f"serial_every={self.serial_every} must be >= 0 (0: never)"),
            (self.serial_rounds >= 1, f"serial_rounds={self.serial_rounds} must be >= 1"),
            (self.downsample >= 1, f"downsample={self.downsample} must be >= 1"),
            (0 < self.state_step <= 1, f"state_step={self.state_step} must be in (0, 1]"),
            (self.inner_steps >= 1, f"inner_steps={self.inner_steps} must be >= 1"),
            (self.microbatches >= 1, f"microbatches={self.microbatches} must be >= 1"),
            (
                self.schedule in SCHEDULES,
                f"schedule={self.schedule!r} is unknown; use one of {', '.join(SCHEDULES)}",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(f"sph: {message}")

    def spec(self) -> str:
        """The spec string that rebuilds this method."""
        return (
            f"{self.name}:method={self.method},beta={self.beta:g},beta_growth={self.beta_growth:g},"
            f"serial_every={self.serial_every},serial_rounds={self.serial_rounds},"
            f"downsample={self.downsample},state_step={self.state_step:g},"
            f"inner_steps={self.inner_steps},"
            f"schedule={self.schedule},microbatches={self.microbatches}"
        )

    def phase(self, t: int) -> Literal["parallel", "serial"]:
        """Round ``t``'s phase: ``serial_every`` parallel rounds, then ``serial_rounds`` serial ones."""
        if self.serial_every == 0:
            return "parallel"
        return (
            "parallel"
            if t % (self.serial_every + self.serial_rounds) < self.serial_every
            else "serial"
        )

    def resets(self, t: int) -> bool:
        """Whether round ``t`` starts a parallel phase (its states come from a forward pass)."""
        return self.phase(t) == "parallel" and (t == 0 or self.phase(t - 1) == "serial")

    def check(self, split: StageSplit, input_shape: tuple[int, ...]) -> None:
        """Refuse a downsampling factor the split's boundary states cannot take (one line)."""
        from .mesh import boundary_shapes  # the mesh module imports the methods

        shapes = boundary_shapes(split, input_shape)
        for b in range(1, split.count):
            Resampler(self.downsample, shapes[b], f"the state between stages {b - 1} and {b}")

    def beta_at(self, t: int) -> float:
        """The penalty weight of round ``t``."""
        return self.beta * self.beta_growth**t


class Resampler:
    """The downsampling filter ``D`` (average pooling) and its restoring interpolation ``U``.

    For a boundary state of per-sample shape ``(C, H, W)``; the identity for
    ``factor = 1`` (any shape).
    """

    def __init__(self, factor: int, shape: tuple[int, ...], where: str):
        self.factor, self.shape = factor, tuple(shape)
        if factor == 1:
            self.low = self.shape
            return
        if len(shape) != 3 or shape[1] % factor or shape[2] % factor:
            raise ConfigError(
                f"sph: downsample={factor} needs image states (C, H, W) with H and W divisible by "
                f"{factor}; {where} is {tuple(shape)}: use downsample=1 or other split points"
            )
        self.low = (shape[0], shape[1] // factor, shape[2] // factor)

    def down(self, h: torch.Tensor) -> torch.Tensor:
        """``(n, B, C, H, W)`` -> ``(n, B, C, H/f, W/f)``."""
        if self.factor == 1:
            return h
        lead = h.shape[:2]
        return F.avg_pool2d(h.reshape(-1, *self.shape), self.factor).reshape(*lead, *self.low)

    def up(self, u: torch.Tensor) -> torch.Tensor:
        """``(n, B, C, H/f, W/f)`` -> ``(n, B, C, H, W)`` (bilinear)."""
        if self.factor == 1:
            return u
        lead = u.shape[:2]
        full = F.interpolate(
            u.reshape(-1, *self.low), size=self.shape[1:], mode="bilinear", align_corners=False
        )
        return full.reshape(*lead, *self.shape)


def _flat(rows: torch.Tensor, M: int) -> torch.Tensor:
    """Positions ``(n, B)`` in each agent's shard of ``M`` rows -> rows of the flattened states."""
    return (rows + torch.arange(rows.shape[0], device=rows.device)[:, None] * M).reshape(-1)


class SPHWorker:
    """One stage's part of the hybrid for all hosted agents: its states and its parallel step.

    The simulator runs every stage's worker in this process; a mesh process
    runs its own. Both call the same methods on the same values.

    Parameters
    ----------
    stage : Stage
        Its layers and columns.
    loss : Loss or None
        The loss, on the last stage only.
    method : SPHMethod
        The options.
    inp, out : Resampler or None
        The filters of the stage's input boundary (None on stage 0) and its
        output boundary (None on the last stage, which keeps no state).
    """

    def __init__(
        self,
        stage: Stage,
        loss: Loss | None,
        method: SPHMethod,
        inp: Resampler | None,
        out: Resampler | None,
    ):
        self.stage, self.loss, self.method, self.inp, self.out = stage, loss, method, inp, out
        self.u: torch.Tensor | None = None  # (n, M, *low) states at the output boundary
        self.mu: torch.Tensor | None = None  # multipliers (augmented Lagrangian), like u

    def _params(self, P: torch.Tensor, grad: bool) -> dict[str, torch.Tensor]:
        return {k: v.detach().requires_grad_(grad) for k, v in self.stage.layout.views(P).items()}

    def _run(self, params: dict[str, torch.Tensor], h: torch.Tensor) -> torch.Tensor:
        return self.stage.forward(params, h if self.inp is None else self.inp.up(h))

    def reset(self, P: torch.Tensor, h: torch.Tensor) -> torch.Tensor | None:
        """States from a forward pass of the whole shard: ``h`` is the input (x or ``u_{s-1}``).

        Returns this stage's states (to send to the next stage); None on the last.
        """
        if self.out is None:
            return None
        with torch.no_grad():
            u = self.out.down(self._run(self._params(P, False), h))
        self.u = u.contiguous()
        self.mu = torch.zeros_like(self.u) if self.method.method == "al" else None
        return self.u

    def outgoing(self, rows: torch.Tensor) -> torch.Tensor:
        """This stage's states at the round's rows (the next stage's input)."""
        assert self.u is not None, "states are set by reset() first"
        M = self.u.shape[1]
        flat = self.u.reshape(-1, *self.u.shape[2:]).index_select(0, _flat(rows, M))
        return flat.view(*rows.shape, *self.u.shape[2:])

    def step(
        self, P: torch.Tensor, G: torch.Tensor, h: torch.Tensor, batch: Batch, beta: float
    ) -> tuple[torch.Tensor | None, torch.Tensor]:
        """The stage's parallel step at parameters ``P``: fills ``G``; returns (input gradient, losses).

        The input gradient (None on stage 0) is of this stage's term of ``P_i``
        in ``u_{s-1}`` at the round's rows (weighted by the samples' weights),
        for the previous stage's state update. The losses are the last stage's
        loss on its input states (zeros elsewhere).
        """
        params = self._params(P, True)
        first = self.inp is None
        h_in = h if first else h.detach().requires_grad_(True)
        leaves = list(params.values())
        inputs = leaves if first else [*leaves, h_in]
        with torch.enable_grad():
            out = self._run(params, h_in)
            if self.out is None:
                assert self.loss is not None
                losses, g_out = self.loss.value_and_grad(out, batch.y, batch.w)
                grads = torch.autograd.grad(out, inputs, g_out, materialize_grads=True)
            else:
                assert self.u is not None and batch.rows is not None
                low = self.out.down(out)
                r = low - self.outgoing(batch.rows)
                # d/d(low) of sum_j w_j [(beta/2)||r_j||^2 + <mu_j, r_j>] = w (beta r + mu)
                coef = beta * r.detach()
                if self.mu is not None:
                    coef = coef + self._rows(self.mu, batch.rows)
                w = batch.w.reshape(*batch.w.shape, *([1] * (r.dim() - 2)))
                grads = torch.autograd.grad(low, inputs, w * coef, materialize_grads=True)
                self._low, self._rows_now = low.detach(), batch.rows
                losses = torch.zeros(P.shape[0], dtype=P.dtype, device=P.device)
        for view, g in zip(self.stage.layout.views(G).values(), grads, strict=False):
            view.copy_(g)
        return (None if first else grads[-1]), losses.detach()

    def _rows(self, state: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        M = state.shape[1]
        flat = state.reshape(-1, *state.shape[2:]).index_select(0, _flat(rows, M))
        return flat.view(*rows.shape, *state.shape[2:])

    def update(self, g_next: torch.Tensor, batch: Batch, beta: float) -> None:
        """The state step at the round's rows, given the next stage's input gradient ``g_next``.

        ``g_next`` carries the samples' weights; the step is per sample, so it
        is divided out (padding rows, of weight 0, get no gradient from the
        next stage). Rows drawn twice in a round add both steps.
        """
        assert self.u is not None and self.out is not None
        rows = self._rows_now
        u_old = self._rows(self.u, rows)
        w = batch.w.reshape(*batch.w.shape, *([1] * (u_old.dim() - 2)))
        g = torch.where(w > 0, g_next / torch.where(w > 0, w, torch.ones_like(w)), 0.0)
        mu = None if self.mu is None else self._rows(self.mu, rows)
        pull = beta * (self._low - u_old) if mu is None else beta * (self._low - u_old) + mu
        u_new = u_old - (self.method.state_step / beta) * (g - pull)
        flat = _flat(rows, self.u.shape[1])
        tail = self.u.shape[2:]
        self.u.view(-1, *tail).index_add_(0, flat, (u_new - u_old).reshape(-1, *tail))
        if self.mu is not None and mu is not None:
            step = beta * (self._low - u_new)
            self.mu.view(-1, *tail).index_add_(0, flat, step.reshape(-1, *tail))
        del self._low, self._rows_now

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The states (and multipliers) for a checkpoint."""
        out = {} if self.u is None else {"u": self.u.detach().cpu()}
        if self.mu is not None:
            out["mu"] = self.mu.detach().cpu()
        return out

    def load_state_dict(self, state: dict[str, torch.Tensor], device: torch.device) -> None:
        """Restore :meth:`state_dict`."""
        self.u = state["u"].to(device) if "u" in state else None
        self.mu = state["mu"].to(device) if "mu" in state else None
