"""Multi-layer perceptron."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Literal

import torch
from torch import nn

from ..errors import ConfigError
from ..losses import OutputGrad
from . import layers
from .chain import Layer

#: The activations an MLP takes (``act=`` in a model spec).
Activation = Literal["relu", "tanh", "sigmoid"]
_ACTIVATIONS = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid}
_IN_PLACE = {"relu": torch.relu_, "tanh": torch.tanh_, "sigmoid": torch.sigmoid_}


def _relu_backward(grad: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    return torch.ops.aten.threshold_backward(grad, out, 0.0)


# The activation's backward from its output (the kernels autograd uses): (grad, output) -> grad.
_BACKWARDS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "relu": _relu_backward,
    "tanh": torch.ops.aten.tanh_backward,
    "sigmoid": torch.ops.aten.sigmoid_backward,
}


class MLP(nn.Module):
    """Fully connected network ``in -> hidden... -> out`` with one activation.

    Examples
    --------
    >>> MLP(64, 10, hidden=(32, 32))(torch.zeros(5, 64)).shape
    torch.Size([5, 10])
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden: Sequence[int] = (64,),
        activation: Activation = "relu",
    ):
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ConfigError(
                f"unknown activation {activation!r}; use one of {', '.join(_ACTIVATIONS)}"
            )
        sizes = [in_features, *hidden, out_features]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(sizes))
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One model: ``(B, in)`` -> ``(B, out)``."""
        h = x.flatten(1)
        for k, layer in enumerate(self.layers):
            h = layer(h)
            if k < len(self.layers) - 1:
                h = _ACTIVATIONS[self.activation](h)
        return h

    def stacked_forward(self, params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        """All agents: ``(n, B, in)`` -> ``(n, B, out)``, one bmm per layer."""
        h = x.flatten(2)
        last = len(self.layers) - 1
        for k in range(len(self.layers)):
            h = layers.linear(h, params[f"layers.{k}.weight"], params[f"layers.{k}.bias"])
            if k < last:
                h = _ACTIVATIONS[self.activation](h)
        return h

    def stacked_gradient(
        self,
        params: dict[str, torch.Tensor],
        x: torch.Tensor,
        output_grad: OutputGrad,
        grads: dict[str, torch.Tensor],
    ) -> torch.Tensor:
        """Backpropagation by hand for all agents: fills ``grads``, returns the losses.

        ``output_grad(out)`` gives the per-agent losses and their gradient in
        the outputs. No autograd graph: for small per-agent batches its
        bookkeeping costs as much as the arithmetic. Activations are kept
        features first, ``(n, features, B)`` (see :func:`layers.linear_t`).
        """
        hs = [x.flatten(2).transpose(1, 2)]
        last = len(self.layers) - 1
        for k in range(len(self.layers)):
            h = layers.linear_t(hs[-1], params[f"layers.{k}.weight"], params[f"layers.{k}.bias"])
            hs.append(_IN_PLACE[self.activation](h) if k < last else h)  # h is ours: no copy
        losses, g = output_grad(hs[-1].transpose(1, 2))
        g = g.transpose(1, 2)
        for k in range(last, -1, -1):
            grad_in = layers.linear_t_backward(
                g,
                hs[k],
                params[f"layers.{k}.weight"],
                grads[f"layers.{k}.weight"],
                grads[f"layers.{k}.bias"],
                input_grad=k > 0,
            )
            if grad_in is not None:  # through the activation that produced hs[k]
                g = _BACKWARDS[self.activation](grad_in, hs[k])
        return losses

    def stacked_layers(self) -> list[Layer]:
        """The linear layers (each with the activation after it) as a chain: the units of a stage split."""
        last = len(self.layers) - 1

        def layer(k: int) -> Layer:
            weight, bias = f"layers.{k}.weight", f"layers.{k}.bias"

            def forward(params: dict[str, torch.Tensor], h: torch.Tensor) -> torch.Tensor:
                # Features first inside (as stacked_gradient): the weight's gradient then comes out
                # of the backward GEMM contiguous, not transposed, and adds into a gradient fast.
                hT = (h.flatten(2) if k == 0 else h).transpose(1, 2)
                h = layers.linear_t(hT, params[weight], params[bias]).transpose(1, 2)
                return _ACTIVATIONS[self.activation](h) if k < last else h

            return Layer(f"layers.{k}", (weight, bias), forward)

        return [layer(k) for k in range(last + 1)]
