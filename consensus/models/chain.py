"""A model as a chain of layers: what a built-in model declares so that it can be cut into stages."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

#: ``(params by full name, h (n, B, ...)) -> (n, B, ...)``: one layer for every agent at once.
LayerForward = Callable[[dict[str, torch.Tensor], torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Layer:
    """One unit of a stage split: a name, the parameters it owns (full names) and its stacked forward.

    A model's layers, composed in order, are its forward pass; their
    parameters, in order, are its parameters (``named_parameters()``).
    A residual step also gives ``residual`` and ``h`` with
    ``forward(p, u) == u + h * residual(p, u)``.
    """

    name: str
    params: tuple[str, ...]
    forward: LayerForward
    #: For a residual step ``forward(u) = u + h * residual(u)`` (an ODE step in the layer index,
    #: which multigrid in layers coarsens): its residual function and its step size ``h``.
    residual: LayerForward | None = None
    h: float = 0.0
