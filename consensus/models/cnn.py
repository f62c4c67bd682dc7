"""A small convolutional network for small images (digits' 8 x 8)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import layers
from .chain import Layer


def _pool(h: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Average-pool the last two dimensions of ``(..., C, H, W)`` down to ``size`` (a no-op when equal)."""
    if tuple(h.shape[-2:]) == size:
        return h
    lead = h.shape[:-3]
    out = F.adaptive_avg_pool2d(h.reshape(-1, *h.shape[-3:]), size)
    return out.reshape(*lead, *out.shape[-3:])


class SmallCNN(nn.Module):
    """conv3x3(c) - relu - conv3x3(2c, stride 2) - relu - pool to at most ``pooled`` x ``pooled`` - linear.

    The head sees the feature map (flattened, average-pooled only when it is
    larger than ``pooled`` x ``pooled``), not its global average: on digits'
    8 x 8 images the 4 x 4 map keeps where the strokes are, which global
    average pooling threw away (test accuracy 0.97 instead of 0.76 after 300
    rounds of NEXT on a ring of 8). No normalization layers, so that it stacks
    per agent.

    Examples
    --------
    >>> SmallCNN((1, 8, 8), 10)(torch.zeros(2, 64)).shape
    torch.Size([2, 10])
    """

    def __init__(
        self, image_shape: tuple[int, ...], out_features: int, channels: int = 8, pooled: int = 4
    ):
        super().__init__()
        self.image_shape = tuple(image_shape)
        c_in, height, width = self.image_shape
        self.conv1 = nn.Conv2d(c_in, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, 2 * channels, 3, stride=2, padding=1)
        # conv2 (kernel 3, stride 2, padding 1) halves each side, rounding up.
        self.pooled = (min(pooled, (height + 1) // 2), min(pooled, (width + 1) // 2))
        self.head = nn.Linear(2 * channels * self.pooled[0] * self.pooled[1], out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One model: ``(B, C*H*W)`` -> ``(B, out)``."""
        h = x.reshape(x.shape[0], *self.image_shape)
        h = F.relu(self.conv1(h))
        h = F.relu(self.conv2(h))
        return self.head(_pool(h, self.pooled).flatten(1))

    def stacked_forward(self, params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        """All agents at once: the convolutions of n agents run as one grouped convolution."""
        n, B = x.shape[:2]
        h = x.reshape(n, B, *self.image_shape)
        h = F.relu(layers.conv2d(h, params["conv1.weight"], params["conv1.bias"], padding=1))
        h = F.relu(
            layers.conv2d(h, params["conv2.weight"], params["conv2.bias"], stride=2, padding=1)
        )
        h = _pool(h, self.pooled).flatten(2)
        return layers.linear(h, params["head.weight"], params["head.bias"])

    def stacked_layers(self) -> list[Layer]:
        """conv1, conv2 and the head as a chain (the units of a stage split); same arithmetic as ``stacked_forward``."""

        def conv1(params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
            h = x.reshape(*x.shape[:2], *self.image_shape)
            return F.relu(layers.conv2d(h, params["conv1.weight"], params["conv1.bias"], padding=1))

        def conv2(params: dict[str, torch.Tensor], h: torch.Tensor) -> torch.Tensor:
            w, b = params["conv2.weight"], params["conv2.bias"]
            return F.relu(layers.conv2d(h, w, b, stride=2, padding=1))

        def head(params: dict[str, torch.Tensor], h: torch.Tensor) -> torch.Tensor:
            h = _pool(h, self.pooled).flatten(2)
            return layers.linear(h, params["head.weight"], params["head.bias"])

        return [
            Layer("conv1", ("conv1.weight", "conv1.bias"), conv1),
            Layer("conv2", ("conv2.weight", "conv2.bias"), conv2),
            Layer("head", ("head.weight", "head.bias"), head),
        ]
