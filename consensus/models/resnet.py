"""A small residual network without normalization layers (stackable per agent)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import layers
from .chain import Layer


class SmallResNet(nn.Module):
    """Stem conv, ``depth`` residual blocks ``u + h * conv(relu(conv(u)))``, pool, linear.

    The residual form ``u_{k+1} = u_k + h F(u_k)`` is the forward-Euler ODE view
    used by layer-parallel methods; with ``h = 1 / depth`` it trains without
    BatchNorm.

    Examples
    --------
    >>> SmallResNet((1, 8, 8), 10, depth=2)(torch.zeros(3, 64)).shape
    torch.Size([3, 10])
    """

    def __init__(
        self, image_shape: tuple[int, ...], out_features: int, channels: int = 8, depth: int = 3
    ):
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.h = 1.0 / depth
        self.stem = nn.Conv2d(self.image_shape[0], channels, 3, padding=1)
        self.blocks = nn.ModuleList(
            nn.ModuleDict(
                {
                    "a": nn.Conv2d(channels, channels, 3, padding=1),
                    "b": nn.Conv2d(channels, channels, 3, padding=1),
                }
            )
            for _ in range(depth)
        )
        self.head = nn.Linear(channels, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One model: ``(B, C*H*W)`` -> ``(B, out)``."""
        u = F.relu(self.stem(x.reshape(x.shape[0], *self.image_shape)))
        for block in self.blocks:
            u = u + self.h * block["b"](F.relu(block["a"](u)))  # type: ignore[index]
        return self.head(u.mean(dim=(-2, -1)))

    def stacked_forward(self, params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        """All agents at once with grouped convolutions."""
        n, B = x.shape[:2]
        u = x.reshape(n, B, *self.image_shape)
        u = F.relu(layers.conv2d(u, params["stem.weight"], params["stem.bias"], padding=1))
        for k in range(len(self.blocks)):
            p = f"blocks.{k}."
            a = F.relu(layers.conv2d(u, params[p + "a.weight"], params[p + "a.bias"], padding=1))
            u = u + self.h * layers.conv2d(
                a, params[p + "b.weight"], params[p + "b.bias"], padding=1
            )
        return layers.linear(u.mean(dim=(-2, -1)), params["head.weight"], params["head.bias"])

    def stacked_layers(self) -> list[Layer]:
        """The stem, each residual block, and the head as a chain (the units of a stage split).

        The blocks declare their residual function and step ``h``: the chain
        multigrid in layers (``--layer-parallel mgrit``) coarsens.
        """

        def stem(params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
            u = x.reshape(*x.shape[:2], *self.image_shape)
            return F.relu(layers.conv2d(u, params["stem.weight"], params["stem.bias"], padding=1))

        def block(k: int) -> Layer:
            p = f"blocks.{k}."
            names = (p + "a.weight", p + "a.bias", p + "b.weight", p + "b.bias")

            def residual(params: dict[str, torch.Tensor], u: torch.Tensor) -> torch.Tensor:
                a = F.relu(layers.conv2d(u, params[names[0]], params[names[1]], padding=1))
                return layers.conv2d(a, params[names[2]], params[names[3]], padding=1)

            def forward(params: dict[str, torch.Tensor], u: torch.Tensor) -> torch.Tensor:
                return u + self.h * residual(params, u)

            return Layer(f"blocks.{k}", names, forward, residual, self.h)

        def head(params: dict[str, torch.Tensor], u: torch.Tensor) -> torch.Tensor:
            return layers.linear(u.mean(dim=(-2, -1)), params["head.weight"], params["head.bias"])

        return [
            Layer("stem", ("stem.weight", "stem.bias"), stem),
            *(block(k) for k in range(len(self.blocks))),
            Layer("head", ("head.weight", "head.bias"), head),
        ]
