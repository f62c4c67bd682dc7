"""What an algorithm is: a pure ``init`` / ``update`` pair over stacked agent rows."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import torch

from ..errors import ConfigError
from ..regularizers import Regularizer

State = dict[str, torch.Tensor]
MixFn = Callable[..., tuple[torch.Tensor, ...]]


@dataclass
class Context:
    """What an update may use besides its inputs.

    ``mix(*tensors)`` is this round's gossip ``W_t x`` (or the exact average on
    a global-correction round); ``global_mean(*tensors)`` is the exact average.
    ``oracle`` and ``batch`` let local solvers evaluate the agent's own loss.
    """

    t: int
    mix: MixFn
    global_mean: MixFn
    reg: Regularizer
    n_total: int
    oracle: Any = None
    batch: Any = None


@dataclass
class Algorithm(ABC):
    """A decentralized algorithm as a pure update on stacked rows.

    ``update`` takes the parameters ``X`` (``(n_local, d)``), the local
    gradients ``G`` of ``n * f_i`` at ``X`` (regularizer excluded), the state,
    and a :class:`Context`; it returns new parameters and a new state. It never
    modifies ``X`` or the state, and sees no ranks, processes or devices.

    ``G`` is handed over: the engine computes it for this call and never reads
    it again, so an update may use its memory for a result (as
    ``torch.add(X, G, alpha=-lr, out=G)``), or keep it in the new state. On the
    CPU this saves a fresh ``(n, d)`` buffer per round, which costs as much as
    the arithmetic. Whoever calls ``update`` directly passes a ``G`` it does
    not need afterwards.
    """

    #: Registry name.
    name: ClassVar[str] = ""
    #: Weight properties the mixing matrices must have (see topologies.PROPERTIES).
    requires: ClassVar[tuple[str, ...]] = ("doubly_stochastic",)
    #: Number of d-vectors of state per agent (memory accounting).
    state_vectors: ClassVar[int] = 0

    def init(self, X: torch.Tensor) -> State:
        """Initial state for parameters ``X``."""
        return {}

    @abstractmethod
    def update(
        self, X: torch.Tensor, G: torch.Tensor, state: State, ctx: Context
    ) -> tuple[torch.Tensor, State]:
        """One round: new parameters and state."""

    def step_size(self, state: State, t: int) -> float:
        """The step size in use at round ``t`` (reported in the metrics)."""
        return float(getattr(self, "lr", float("nan")))

    def validate(self) -> None:
        """Raise a :class:`ConfigError` for out-of-range hyperparameters."""
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in {"lr", "tau", "alpha0"} and not (
                isinstance(value, (int, float)) and value > 0
            ):
                raise ConfigError(f"{self.name}: {f.name}={value!r} must be a positive number")
            if f.name == "momentum" and not 0 <= value < 1:
                raise ConfigError(f"{self.name}: momentum={value} must be in [0, 1)")


def prox_step(ctx: Context, V: torch.Tensor, step: float) -> torch.Tensor:
    """The l1 part of the regularizer as a proximal step (l2 is in the gradient)."""
    return ctx.reg.prox_l1(V, step)
