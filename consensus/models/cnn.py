"""A small convolutional network for small images (digits' 8 x 8)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import layers


class SmallCNN(nn.Module):
    """conv3x3(c) - relu - conv3x3(2c, stride 2) - relu - global average pool - linear.

    Examples
    --------
    >>> SmallCNN((1, 8, 8), 10)(torch.zeros(2, 64)).shape
    torch.Size([2, 10])
    """

    def __init__(self, image_shape: tuple[int, ...], out_features: int, channels: int = 8):
        super().__init__()
        self.image_shape = tuple(image_shape)
        c_in = self.image_shape[0]
        self.conv1 = nn.Conv2d(c_in, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, 2 * channels, 3, stride=2, padding=1)
        self.head = nn.Linear(2 * channels, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One model: ``(B, C*H*W)`` -> ``(B, out)``."""
        h = x.reshape(x.shape[0], *self.image_shape)
        h = F.relu(self.conv1(h))
        h = F.relu(self.conv2(h))
        return self.head(h.mean(dim=(-2, -1)))

    def stacked_forward(self, params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        """All agents at once: the convolutions of n agents run as one grouped convolution."""
        n, B = x.shape[:2]
        h = x.reshape(n, B, *self.image_shape)
        h = F.relu(layers.conv2d(h, params["conv1.weight"], params["conv1.bias"], padding=1))
        h = F.relu(
            layers.conv2d(h, params["conv2.weight"], params["conv2.bias"], stride=2, padding=1)
        )
        return layers.linear(h.mean(dim=(-2, -1)), params["head.weight"], params["head.bias"])
