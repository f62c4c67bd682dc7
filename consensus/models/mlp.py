"""Multi-layer perceptron."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import nn

from . import layers

_ACTIVATIONS = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid}


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
        activation: str = "relu",
    ):
        super().__init__()
        sizes = [in_features, *hidden, out_features]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(sizes))
        self.act = _ACTIVATIONS[activation]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One model: ``(B, in)`` -> ``(B, out)``."""
        h = x.flatten(1)
        for k, layer in enumerate(self.layers):
            h = layer(h)
            if k < len(self.layers) - 1:
                h = self.act(h)
        return h

    def stacked_forward(self, params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        """All agents: ``(n, B, in)`` -> ``(n, B, out)``, one bmm per layer."""
        h = x.flatten(2)
        last = len(self.layers) - 1
        for k in range(len(self.layers)):
            h = layers.linear(h, params[f"layers.{k}.weight"], params[f"layers.{k}.bias"])
            if k < last:
                h = self.act(h)
        return h
