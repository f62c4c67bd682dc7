"""Multigrid in layers (MGRIT): the options, and the residual chain of a split model it solves.

A residual network's middle ``u_{k+1} = u_k + h F_k(u_k)`` is forward Euler in
the layer index: layer-parallel training solves it, and its adjoint, by
nonlinear multigrid reduction in time (Günther, Ruthotto, Schroder, Cyr and
Gauger, "Layer-parallel training of deep residual neural networks", SIMODS 2020;
the XBraid / TorchBraid algorithm). The solver is
:class:`~consensus.layerparallel.mgrit_solver.MGRIT`; the gradient pass of an
agent built on it is :class:`~consensus.layerparallel.mgrit_pass.MGRITPass`.

The model's layers (:func:`~consensus.layerparallel.layers.layers_of`) are
``pre`` layers (the stem: all on the first stage), a chain of residual steps of
one state shape (the time steps, spread over the stages as the split puts
them) and ``post`` layers (the head: all on the last stage).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch

from ..errors import ConfigError
from .layers import Layer
from .mgrit_smooth import DepthSmoothing
from .schedules import SCHEDULES
from .split import StageSplit


@dataclass(frozen=True)
class MGRITMethod:
    """Options of multigrid in layers.

    ``levels`` grids (the finest is the layers; each coarser one takes every
    ``cfactor``-th point), ``fwd_iters`` / ``bwd_iters`` V-cycles of the forward
    and the adjoint solve (fewer if the residual falls below ``tol``; 0: never
    stop early), ``relax`` F or FCF. ``init``: the initial guess, the first
    state (adjoint) at every point (``copy``) or by nested iteration from the
    coarsest grid (``nested``). ``coarse``: a coarse step from point ``c`` to
    ``c + M`` is the first layer's step with step size ``M h`` (``first``, as in
    TorchBraid) or every layer of the interval at ``u_c``, summed:
    ``u_c + h sum_k F_k(u_c)`` (``sum``: each layer keeps its own weights; ``M``
    times a fine step's work). Every ``serial_every``-th round (0: never)
    is an exact serial forward-backward instead (the exact pipeline, with
    ``schedule`` and ``microbatches``). ``smooth`` (``alpha``) adds the
    regularizer ``(alpha / 2) sum_k ||theta_{k+1} - theta_k||^2 / h`` over
    consecutive residual steps to every agent's objective
    (:class:`~consensus.layerparallel.mgrit_smooth.DepthSmoothing`; 0: none).
    Defaults as in TorchBraid's examples.

    Examples
    --------
    >>> from consensus.layerparallel import resolve_method
    >>> m = resolve_method("mgrit:levels=3,cfactor=2,serial_every=4")
    >>> m.levels, m.cfactor, [m.phase(t) for t in range(5)]
    (3, 2, ['parallel', 'parallel', 'parallel', 'serial', 'parallel'])
    """

    name: ClassVar[str] = "mgrit"
    levels: int = 2
    cfactor: int = 4
    fwd_iters: int = 2
    bwd_iters: int = 1
    relax: Literal["F", "FCF"] = "FCF"
    init: Literal["copy", "nested"] = "copy"
    coarse: Literal["first", "sum"] = "first"
    tol: float = 0.0
    serial_every: int = 0
    smooth: float = 0.0
    schedule: str = "1f1b"
    microbatches: int = 1

    def __post_init__(self) -> None:
        checks = [
            (self.levels >= 1, f"levels={self.levels} must be >= 1"),
            (self.cfactor >= 2, f"cfactor={self.cfactor} must be >= 2"),
            (self.fwd_iters >= 1, f"fwd_iters={self.fwd_iters} must be >= 1"),
            (self.bwd_iters >= 1, f"bwd_iters={self.bwd_iters} must be >= 1"),
            (self.relax in ("F", "FCF"), f"relax={self.relax!r} must be F or FCF"),
            (self.init in ("copy", "nested"), f"init={self.init!r} must be copy or nested"),
            (self.coarse in ("first", "sum"), f"coarse={self.coarse!r} must be first or sum"),
            (self.tol >= 0, f"tol={self.tol} must be >= 0 (0: run every iteration)"),
            (self.serial_every >= 0, f"serial_every={self.serial_every} must be >= 0 (0: never)"),
            (self.smooth >= 0, f"smooth={self.smooth:g} must be >= 0 (0: no regularizer)"),
            (self.microbatches >= 1, f"microbatches={self.microbatches} must be >= 1"),
            (
                self.schedule in SCHEDULES,
                f"schedule={self.schedule!r} is unknown; use one of {', '.join(SCHEDULES)}",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(f"mgrit: {message}")

    def spec(self) -> str:
        """The spec string that rebuilds this method."""
        return (
            f"{self.name}:levels={self.levels},cfactor={self.cfactor},fwd_iters={self.fwd_iters},"
            f"bwd_iters={self.bwd_iters},relax={self.relax},init={self.init},"
            f"coarse={self.coarse},tol={self.tol:g},"
            f"serial_every={self.serial_every},smooth={self.smooth:g},schedule={self.schedule},"
            f"microbatches={self.microbatches}"
        )

    def phase(self, t: int) -> Literal["parallel", "serial"]:
        """Round ``t``'s gradient: multigrid (``parallel``) or the exact serial pass."""
        every = self.serial_every
        return "serial" if every and (t + 1) % every == 0 else "parallel"

    def check(self, split: StageSplit, input_shape: tuple[int, ...]) -> None:
        """Refuse a model or split without a residual chain fit for multigrid (one line)."""
        self.smoothing(residual_chain(split, input_shape))

    def smoothing(self, chain: ResidualChain) -> DepthSmoothing:
        """The depth-smoothness regularizer of ``chain`` (checks its steps' parameter shapes)."""
        return DepthSmoothing(chain.steps, chain.owners, self.smooth, chain.shapes)


@dataclass(frozen=True)
class ResidualChain:
    """A split model as stem, residual steps and head.

    ``steps[k]`` is time step ``k`` (``u_{k+1} = u_k + steps[k].h *
    steps[k].residual(p, u_k)``), hosted by stage ``owners[k]``; ``pre`` run on
    the first stage, ``post`` on the last; ``state`` is the per-sample shape of
    the states ``u_k``; ``shapes`` the per-sample shape of every parameter.
    """

    pre: tuple[Layer, ...]
    steps: tuple[Layer, ...]
    owners: tuple[int, ...]
    post: tuple[Layer, ...]
    state: tuple[int, ...]
    stages: int
    shapes: dict[str, tuple[int, ...]]

    @property
    def length(self) -> int:
        """Number of residual steps ``N``."""
        return len(self.steps)


def residual_chain(split: StageSplit, input_shape: tuple[int, ...]) -> ResidualChain:
    """The residual chain of ``split``, or a one-line :class:`ConfigError` saying what is missing."""
    flat = [(layer, s.index) for s in split.stages for layer in s.layers]
    marks = [layer.residual is not None for layer, _ in flat]
    if not any(marks):
        raise ConfigError(
            "mgrit needs a model whose middle is a chain of residual steps (the built-in resnet, or "
            "blocks with concord_step_size and residual(x)); this model has none: use "
            "--layer-parallel pipeline"
        )
    first = marks.index(True)
    stop = len(marks) - marks[::-1].index(True)
    if not all(marks[first:stop]):
        raise ConfigError(
            "mgrit: the model's residual steps are not one unbroken chain; put the other layers "
            "before or after them (a parameter-free module right after a block joins that block)"
        )
    last = split.count - 1
    if any(s != 0 for _, s in flat[:first]) or any(s != last for _, s in flat[stop:]):
        raise ConfigError(
            f"mgrit: the layers before the residual chain must be on stage 0 and those after it on "
            f"stage {last}; choose split points inside the chain (layers {first + 1}..{stop - 1}; "
            "a parameter-free module right after a residual block joins it, which then is no step)"
        )
    pre = tuple(layer for layer, _ in flat[:first])
    steps = tuple(layer for layer, _ in flat[first:stop])
    h = torch.empty(1, 1, *input_shape, device="meta")
    params = {
        name: torch.empty(1, *shape, device="meta")
        for name, shape in zip(split.layout.names, split.layout.shapes, strict=True)
    }
    with torch.no_grad():
        for layer in pre:
            h = layer.forward(params, h)
        state = tuple(h.shape[2:])
        for layer in steps:
            if tuple(layer.forward(params, h).shape[2:]) != state:
                raise ConfigError(
                    f"mgrit: residual step {layer.name!r} changes the state's shape; every step of "
                    "the chain must keep it"
                )
    return ResidualChain(
        pre,
        steps,
        tuple(s for _, s in flat[first:stop]),
        tuple(layer for layer, _ in flat[stop:]),
        state,
        split.count,
        {p: tuple(shape) for p, shape in zip(split.layout.names, split.layout.shapes, strict=True)},
    )
