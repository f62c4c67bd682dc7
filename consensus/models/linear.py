"""Linear and (multinomial) logistic regression."""

from __future__ import annotations

import torch
from torch import nn

from ..losses import OutputGrad
from . import layers
from .chain import Layer


class LinearModel(nn.Module):
    """``x -> W x + b``: linear regression with MSE, multinomial logistic regression with cross-entropy.

    Examples
    --------
    >>> LinearModel(4, 3)(torch.zeros(2, 4)).shape
    torch.Size([2, 3])
    """

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One model: x ``(B, in)`` -> ``(B, out)``."""
        return self.linear(x.flatten(1))

    def stacked_forward(self, params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        """All agents: x ``(n, B, in)`` -> ``(n, B, out)``."""
        return layers.linear(x.flatten(2), params["linear.weight"], params["linear.bias"])

    def stacked_gradient(
        self,
        params: dict[str, torch.Tensor],
        x: torch.Tensor,
        output_grad: OutputGrad,
        grads: dict[str, torch.Tensor],
    ) -> torch.Tensor:
        """Gradients by hand for all agents: fills ``grads``, returns the losses."""
        xT = x.flatten(2).transpose(1, 2)
        out = layers.linear_t(xT, params["linear.weight"], params["linear.bias"])
        losses, g = output_grad(out.transpose(1, 2))
        layers.linear_t_backward(
            g.transpose(1, 2),
            xT,
            params["linear.weight"],
            grads["linear.weight"],
            grads["linear.bias"],
            input_grad=False,
        )
        return losses

    def stacked_layers(self) -> list[Layer]:
        """One layer: a linear model cannot be cut into more than one stage."""
        return [Layer("linear", ("linear.weight", "linear.bias"), self.stacked_forward)]
