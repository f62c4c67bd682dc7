"""Running one model for many agents at once.

A built-in model defines ``stacked_forward(params, x)`` with params of shape
``(n, *shape)`` and inputs ``(n, B, ...)``, written with ``bmm`` and grouped
convolutions (the fast path). Any other ``nn.Module`` runs through
``torch.func.vmap`` over ``functional_call``. A model may also define
``stacked_gradient(params, x, output_grad, grads)``, its backward pass by hand
(the MLP and the linear model do); gradients of the others come from autograd.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.func import functional_call, vmap

from ..errors import ConfigError
from ..losses import OutputGrad

StackedForward = Callable[[dict[str, torch.Tensor], torch.Tensor], torch.Tensor]
#: ``(params, x, output_grad, grads) -> losses``: a built-in model's hand-written backward.
StackedGradient = Callable[
    [dict[str, torch.Tensor], torch.Tensor, OutputGrad, dict[str, torch.Tensor]], torch.Tensor
]

_RUNNING_STATS = (nn.modules.batchnorm._BatchNorm, nn.modules.instancenorm._InstanceNorm)


def check_stackable(module: nn.Module) -> None:
    """Refuse modules with running-statistics buffers (BatchNorm): they cannot be stacked per agent."""
    for name, sub in module.named_modules():
        if isinstance(sub, _RUNNING_STATS) and getattr(sub, "track_running_stats", False):
            raise ConfigError(
                f"{type(sub).__name__} at '{name}' keeps running statistics, which cannot be stacked per agent; "
                "use GroupNorm or LayerNorm (or BatchNorm with track_running_stats=False)"
            )
    buffers = [name for name, _ in module.named_buffers()]
    if buffers:
        raise ConfigError(
            f"the model has buffers ({buffers[0]}) that Concord cannot keep per agent; register them as parameters "
            "with requires_grad=False or remove them"
        )


def stacked_forward(module: nn.Module) -> StackedForward:
    """The batched forward of ``module`` over the agent dimension.

    Examples
    --------
    >>> from consensus.models.layout import ParamLayout
    >>> net = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2))
    >>> f = stacked_forward(net)
    >>> X = torch.randn(5, ParamLayout.of(net).dim)
    >>> f(ParamLayout.of(net).views(X), torch.randn(5, 7, 4)).shape
    torch.Size([5, 7, 2])
    """
    check_stackable(module)
    native = getattr(module, "stacked_forward", None)
    if callable(native):
        return native

    def call(params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return functional_call(module, params, (x,))

    # Random layers (dropout) draw independently per agent from torch's global generator.
    batched = vmap(call, randomness="different")
    return lambda params, x: batched(params, x)


def stacked_gradient(module: nn.Module) -> StackedGradient | None:
    """The model's hand-written stacked backward, or None (autograd is used)."""
    native = getattr(module, "stacked_gradient", None)
    return native if callable(native) else None
