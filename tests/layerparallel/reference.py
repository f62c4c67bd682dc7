"""The serial reference: each agent's gradient by plain autograd through the module's own forward."""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from consensus.models import MLP, ParamLayout, SmallCNN, SmallResNet
from consensus.objective import Batch


def serial_gradient(module: nn.Module, loss, X: torch.Tensor, batch: Batch) -> torch.Tensor:
    """``(n, d)``: agent by agent, ``sum_b w * loss(module(x_b), y_b)`` differentiated by autograd."""
    layout = ParamLayout.of(module)
    net = copy.deepcopy(module).to(X.dtype)
    rows = []
    for i in range(X.shape[0]):  # the reference may loop: it is not the code under test
        layout.load(net, X[i])
        net.zero_grad()
        out = net(batch.x[i])
        (loss.per_sample(out, batch.y[i]) * batch.w[i]).sum().backward()
        rows.append(torch.cat([p.grad.reshape(-1) for p in net.parameters()]))
    return torch.stack(rows)


def models(features: int, classes: int, image: tuple[int, int, int] | None) -> dict[str, nn.Module]:
    """Built-in and user models with at least four layers with parameters (fewer for the CNN)."""
    torch.manual_seed(0)
    out: dict[str, nn.Module] = {
        "mlp": MLP(features, classes, hidden=(12, 10, 8)),
        "sequential": nn.Sequential(
            nn.Flatten(),
            nn.Linear(features, 12),
            nn.Tanh(),
            nn.Linear(12, 10),
            nn.ReLU(),
            nn.Linear(10, 8),
            nn.Sigmoid(),
            nn.Linear(8, classes),
        ),
    }
    if image is not None:
        out["cnn"] = SmallCNN(image, classes, channels=4)
        out["resnet"] = SmallResNet(image, classes, channels=4, depth=3)
    return out


def random_rows(n: int, d: int, seed: int = 0) -> torch.Tensor:
    """Different float64 parameters per agent."""
    return torch.as_tensor(np.random.default_rng(seed).normal(scale=0.3, size=(n, d)))
