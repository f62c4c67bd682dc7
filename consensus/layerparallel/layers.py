"""A model as an ordered chain of layers: the units a stage split groups.

Three ways a model gives its layers, tried in this order:

1. ``stacked_layers()`` returning a list of :class:`~consensus.models.chain.Layer` (built-ins:
   fast stacked forwards with ``bmm`` and grouped convolutions);
2. ``concord_layers()`` returning the submodules whose composition is the
   model's forward, in order (the protocol for any user module);
3. an ``nn.Sequential``: its children, in order.

A layer that is a residual step ``x + h * residual(x)`` (an ODE block, which
multigrid in layers coarsens) says so: built-ins give
:attr:`~consensus.models.chain.Layer.residual`; a user's submodule defines an
attribute ``concord_step_size = h`` and a method ``residual(x)``.

Layers without parameters (activations, ``Flatten``) join the layer before them
(the first layers with parameters take the ones before them), so every
:class:`~consensus.models.chain.Layer` owns at least one parameter.

Examples
--------
>>> net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
>>> [(layer.name, layer.params) for layer in layers_of(net)]
[('0', ('0.weight', '0.bias')), ('2', ('2.weight', '2.bias'))]
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.func import functional_call, vmap

from ..errors import ConfigError
from ..models.chain import Layer, LayerForward


def _stacked_call(module: nn.Module, prefix: str, into: str = "") -> LayerForward:
    """The stacked forward of one submodule through ``vmap(functional_call)``.

    The model's parameters named ``prefix + name`` are the module's ``into + name``.
    """
    strip = len(prefix)

    def call(params: dict[str, torch.Tensor], h: torch.Tensor) -> torch.Tensor:
        return functional_call(module, params, (h,))

    # Random layers (dropout) draw independently per agent, as in stacked_forward.
    batched = vmap(call, randomness="different")

    def forward(params: dict[str, torch.Tensor], h: torch.Tensor) -> torch.Tensor:
        own = {into + k[strip:]: v for k, v in params.items() if k.startswith(prefix)}
        return batched(own, h)

    return forward


def _chain(forwards: Sequence[LayerForward]) -> LayerForward:
    if len(forwards) == 1:
        return forwards[0]

    def forward(params: dict[str, torch.Tensor], h: torch.Tensor) -> torch.Tensor:
        for f in forwards:
            h = f(params, h)
        return h

    return forward


def _from_submodules(model: nn.Module, subs: Sequence[nn.Module], how: str) -> list[Layer]:
    """Layers from an ordered list of submodules of ``model`` (parameter names found by identity)."""
    names_of = {id(p): name for name, p in model.named_parameters()}
    path_of = {id(m): path for path, m in model.named_modules()}
    layers: list[Layer] = []
    waiting: list[LayerForward] = []  # parameter-free modules before the first layer
    for sub in subs:
        if id(sub) not in path_of:
            raise ConfigError(
                f"{how} returned a module that is not a submodule of the model; return its own layers"
            )
        path = path_of[id(sub)]
        prefix = f"{path}." if path else ""
        params = tuple(names_of[id(p)] for p in sub.parameters())
        forward = _stacked_call(sub, prefix) if params else _shared_call(sub)
        if not params and layers:
            last = layers[-1]
            layers[-1] = Layer(last.name, last.params, _chain([last.forward, forward]))
        elif not params:
            waiting.append(forward)
        else:
            name = path or type(sub).__name__
            step = _residual_step(sub, prefix) if not waiting else None
            layers.append(Layer(name, params, _chain([*waiting, forward]), *(step or ())))
            waiting = []
    if not layers:
        raise ConfigError(f"{how} gave no layer with parameters; the model cannot be split")
    return layers


class _Residual(nn.Module):
    """A residual block seen through its ``residual`` method (so ``functional_call`` can call it)."""

    def __init__(self, block: nn.Module):
        super().__init__()
        self.block = block

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.block.residual(h)  # type: ignore[operator]


def _residual_step(module: nn.Module, prefix: str) -> tuple[LayerForward, float] | None:
    """``(residual, h)`` of a submodule declaring ``concord_step_size`` and ``residual(x)``, else None.

    The protocol of a user's ODE block: ``forward(x) == x + concord_step_size * residual(x)``.
    """
    h = getattr(module, "concord_step_size", None)
    if h is None or not callable(getattr(module, "residual", None)):
        return None
    return _stacked_call(_Residual(module), prefix, into="block."), float(h)


def _shared_call(module: nn.Module) -> LayerForward:
    """A parameter-free module: applied per agent through vmap (it may be random, as dropout)."""
    batched = vmap(module, randomness="different")
    return lambda params, h: batched(h)


def layers_of(model: nn.Module) -> list[Layer]:
    """The model's layers in forward order (see the module docstring for the protocols)."""
    native = getattr(model, "stacked_layers", None)
    if callable(native):
        return list(native())
    declared = getattr(model, "concord_layers", None)
    if callable(declared):
        return _from_submodules(model, list(declared()), "concord_layers()")
    if isinstance(model, nn.Sequential):
        return _from_submodules(
            model, list(model), "nn.Sequential"
        )  # not children(): it drops repeats
    raise ConfigError(
        f"{type(model).__name__} cannot be split into stages; use an nn.Sequential, a built-in model, "
        "or define concord_layers() returning its layers in order (see the guide 'Splitting your model')"
    )
