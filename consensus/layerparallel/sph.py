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

A **parallel round** is ``inner_steps`` Jacobi steps of every stage at once,
on the round's samples, the parameters fixed: stage ``s`` needs only
``u_{s-1}`` (from stage ``s-1``) and its own ``u_s``; it sends the gradient
in its input back to stage ``s-1``, which takes a step on its states,
``u_s <- u_s - (state_step / beta) dP/du_s``, and returns its parameters'
gradient of ``P_i`` at the last step (the consensus algorithm takes the
parameter step, so every algorithm runs on top unchanged). From fresh states
(residual 0) the first step gives a gradient to the last stage only; each
further step carries the loss's gradient one stage further back: with
``state_step = 1`` the state becomes ``D F_s(U u_{s-1}) + (mu_s - g_s) / beta``
and stage ``s``'s gradient ``J^T (beta r + mu)`` is the backpropagated one.
The defaults make the second step's gradient of the stage before the last
the backpropagated one: ``state_step = 1`` for the penalty method, and 0.5
for the augmented Lagrangian, whose first step from fresh states sets
``mu = state_step g`` and leaves ``beta r = state_step g`` (so the second
step's ``J^T (beta r + mu)`` is ``2 state_step`` times it). Over many inner
steps, though, the state iteration contracts only for
``state_step < 2 / (1 + |J_{s+1}|^2)`` (``J_{s+1}`` the next stage's Jacobian
in its input): with ``inner_steps`` well above 2 use a damped step, say 0.3.
Measured on the digits ResNet in 4 stages (dsgd lr 0.1, momentum 0.9, 1,600
rounds, seeds 0-4): serial training 0.9791 on average; the penalty method
0.9791 at ``state_step = 1`` but 0.9702 at 0.5 and two runs of five failing at
0.3 (0.909, NaN); the AL 0.9747 at 0.5 and 0.9600 at 0.3 (seeds 0-2).
The parameters' curvature of the penalty grows with ``beta``: a large ``beta``
needs a small learning rate (with dsgd lr 0.1 and momentum 0.9 on the digits
ResNet, ``beta = 0.1`` with one parallel round per serial round is stable,
longer parallel phases diverge; lr 0.01 keeps them stable).

A **serial round** is an ordinary round of the exact pipeline (with data
augmentation, when configured). Every ``serial_every`` parallel rounds come
``serial_rounds`` serial ones. Each parallel phase (from round 0, and after
every serial phase) resets the states from a forward pass: lazily, a sample's
states (and multipliers, to 0) are set from the forward pass of the first
parallel step that uses it in the phase, so a phase costs no pass over the
whole shard; in such a step the stages run in turn, each sending the next its
fresh states (a pipeline forward), and the step goes on as usual.
``serial_every = 0`` never corrects. ``beta`` grows by ``beta_growth`` per round.
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
    serial_every: int = 1
    serial_rounds: int = 1
    downsample: int = 1
    state_step: float | None = None  # None: 1 for the penalty method, 0.5 for the AL
    inner_steps: int = 2
    schedule: str = "1f1b"
    microbatches: int = 1

    def __post_init__(self) -> None:
        if self.state_step is None:  # the default of each method (see the module docstring)
            object.__setattr__(self, "state_step", 0.5 if self.method == "al" else 1.0)
        assert self.state_step is not None
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


class HybridRounds:
    """What the hybrid's objectives (in one process and on a mesh) share: which rounds do what.

    Expects ``sph`` (the options), ``round`` (set by ``batch(t)``) and
    ``states_ready`` (False until a phase started or a checkpoint's states loaded).
    """

    sph: SPHMethod
    round: int
    states_ready: bool

    def augments(self, t: int) -> bool:
        """Serial rounds only: a parallel round's states belong to the un-augmented samples."""
        return self.sph.phase(t) == "serial"

    def parallel_round(self, training: bool) -> bool:
        """Whether this round's training gradient is the hybrid's (else the exact pipeline's)."""
        return training and self.sph.phase(self.round) == "parallel"

    def start_round(self, workers: list[SPHWorker]) -> float:
        """Start a phase where one begins (the same answer on every stage); the round's beta."""
        if self.sph.resets(self.round) or not self.states_ready:
            for worker in workers:
                worker.start_phase()
            self.states_ready = True
        return self.sph.beta_at(self.round)


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
    runs its own. Both call the same methods on the same values. A step is
    :meth:`forward` (which returns the states to send to the next stage),
    :meth:`backward` (which returns the gradient to send to the previous
    stage) and, on every stage but the last, :meth:`update` of the states.

    States are refreshed lazily: :meth:`start_phase` marks every sample's
    states stale, and the first step that uses a sample sets them from its
    forward pass (so a phase costs no extra pass over the shard, and its
    first uses form a chain from stage to stage).

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
    shard_rows : int
        Rows ``M`` of each agent's padded shard (the states' second dimension).
    """

    def __init__(
        self,
        stage: Stage,
        loss: Loss | None,
        method: SPHMethod,
        inp: Resampler | None,
        out: Resampler | None,
        shard_rows: int,
    ):
        self.stage, self.loss, self.method, self.inp, self.out = stage, loss, method, inp, out
        self.M = shard_rows
        self.u: torch.Tensor | None = None  # (n, M, *low) states at the output boundary
        self.mu: torch.Tensor | None = None  # multipliers (augmented Lagrangian), like u
        self.fresh: torch.Tensor | None = None  # (n, M): states set in this phase

    def start_phase(self) -> None:
        """Mark every sample's states stale: the phase's first use of a sample refreshes them."""
        if self.fresh is not None:
            self.fresh.zero_()

    def stale(self, rows: torch.Tensor) -> bool:
        """Whether a step on ``rows`` refreshes states (the same answer on every stage)."""
        return self.fresh is None or not bool(self._rows(self.fresh, rows).all())

    def _params(self, P: torch.Tensor) -> dict[str, torch.Tensor]:
        return {k: v.detach().requires_grad_(True) for k, v in self.stage.layout.views(P).items()}

    def forward(self, P: torch.Tensor, h: torch.Tensor, batch: Batch) -> torch.Tensor | None:
        """The stage on the round's inputs ``h`` at parameters ``P``; returns the states to send on.

        Stale states of the round's rows are set from this forward pass (their
        residual is then 0). Returns this stage's states at the rows (None on
        the last stage).
        """
        assert batch.rows is not None
        rows, first = batch.rows, self.inp is None
        if self.fresh is None:
            self.fresh = torch.zeros(rows.shape[0], self.M, dtype=torch.bool, device=rows.device)
        params = self._params(P)
        h_in = h if first else h.detach().requires_grad_(True)
        with torch.enable_grad():
            out = self.stage.forward(params, h_in if first else self.inp.up(h_in))  # type: ignore[union-attr]
            low = out if self.out is None else self.out.down(out)
        self._saved = (params, h_in, out, low, rows)
        flat = _flat(rows, self.M)
        stale = ~self.fresh.view(-1)[flat]
        self.fresh.view(-1)[flat] = True
        if self.out is None:
            return None
        if self.u is None:
            shape = (rows.shape[0], self.M, *self.out.low)
            self.u = torch.zeros(shape, dtype=low.dtype, device=low.device)
            self.mu = torch.zeros_like(self.u) if self.method.method == "al" else None
        tail = self.u.shape[2:]
        if bool(stale.any()):
            # Duplicated rows carry the same input, hence the same value: the copy is deterministic.
            fresh_values = low.detach().reshape(-1, *tail)[stale]
            self.u.view(-1, *tail).index_copy_(0, flat[stale], fresh_values)
            if self.mu is not None:
                self.mu.view(-1, *tail).index_fill_(0, flat[stale], 0.0)
        return self._rows(self.u, rows)

    def backward(
        self, G: torch.Tensor, batch: Batch, beta: float
    ) -> tuple[torch.Tensor | None, torch.Tensor]:
        """Fill ``G`` with the parameters' gradient of the stage's term of ``P_i``; return (input gradient, losses).

        The input gradient (None on stage 0) is in ``u_{s-1}`` at the round's
        rows, weighted by the samples' weights, for the previous stage's state
        update. The losses are the last stage's loss on its input states
        (zeros elsewhere).
        """
        params, h_in, out, low, rows = self._saved
        first = self.inp is None
        leaves = list(params.values())
        inputs = leaves if first else [*leaves, h_in]
        with torch.enable_grad():
            if self.out is None:
                assert self.loss is not None
                losses, g_out = self.loss.value_and_grad(out, batch.y, batch.w)
                grads = torch.autograd.grad(out, inputs, g_out, materialize_grads=True)
            else:
                assert self.u is not None
                r = low.detach() - self._rows(self.u, rows)
                # d/d(low) of sum_j w_j [(beta/2)||r_j||^2 + <mu_j, r_j>] = w (beta r + mu)
                coef = beta * r
                if self.mu is not None:
                    coef = coef + self._rows(self.mu, rows)
                w = batch.w.reshape(*batch.w.shape, *([1] * (r.dim() - 2)))
                grads = torch.autograd.grad(low, inputs, w * coef, materialize_grads=True)
                losses = torch.zeros(G.shape[0], dtype=G.dtype, device=G.device)
        for view, g in zip(self.stage.layout.views(G).values(), grads, strict=False):
            view.copy_(g)
        self._saved = (params, h_in, out, low.detach(), rows)  # the graph is freed
        return (None if first else grads[-1]), losses.detach()

    def states_at(self, rows: torch.Tensor) -> torch.Tensor:
        """This stage's states at ``rows`` (what it sends the next stage)."""
        assert self.u is not None, "the states are set by the phase's first forward"
        return self._rows(self.u, rows)

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
        _, _, _, low, rows = self._saved
        u_old = self._rows(self.u, rows)
        w = batch.w.reshape(*batch.w.shape, *([1] * (u_old.dim() - 2)))
        g = torch.where(w > 0, g_next / torch.where(w > 0, w, torch.ones_like(w)), 0.0)
        mu = None if self.mu is None else self._rows(self.mu, rows)
        pull = beta * (low - u_old) if mu is None else beta * (low - u_old) + mu
        state_step = self.method.state_step
        assert state_step is not None  # set by SPHMethod.__post_init__
        u_new = u_old - (state_step / beta) * (g - pull)
        flat = _flat(rows, self.u.shape[1])
        tail = self.u.shape[2:]
        self.u.view(-1, *tail).index_add_(0, flat, (u_new - u_old).reshape(-1, *tail))
        if self.mu is not None and mu is not None:
            step = beta * (low - u_new)
            self.mu.view(-1, *tail).index_add_(0, flat, step.reshape(-1, *tail))
        del self._saved

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The states, multipliers and freshness marks for a checkpoint."""
        kept = {"u": self.u, "mu": self.mu, "fresh": self.fresh}
        return {k: v.detach().cpu() for k, v in kept.items() if v is not None}

    def load_state_dict(self, state: dict[str, torch.Tensor], device: torch.device) -> None:
        """Restore :meth:`state_dict`."""
        self.u, self.mu, self.fresh = (  # copies: the saved dict stays as it was
            state[k].to(device, copy=True) if k in state else None for k in ("u", "mu", "fresh")
        )
