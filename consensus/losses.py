"""Per-sample losses on stacked outputs ``(n, B, C)``; torch's mean-reduction conventions."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

PerSampleLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def cross_entropy(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Softmax cross-entropy per sample: out ``(n, B, C)``, y ``(n, B)`` -> ``(n, B)``."""
    return F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1), reduction="none").view(
        y.shape
    )


def squared_error(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``(prediction - y)^2`` per sample, as in ``nn.MSELoss``: out ``(n, B, 1)`` -> ``(n, B)``."""
    return (out.squeeze(-1) - y) ** 2


#: Loss name -> (per-sample loss, curvature bound of the loss in the output).
LOSSES: dict[str, tuple[PerSampleLoss, float]] = {
    "cross_entropy": (cross_entropy, 0.5),
    "mse": (squared_error, 2.0),
}

#: The loss a task uses by default.
DEFAULT_LOSS = {"classification": "cross_entropy", "regression": "mse"}
