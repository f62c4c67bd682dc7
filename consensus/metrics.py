"""Metrics at the average model and across agents; every number is a global one (via the mixer)."""

from __future__ import annotations

import torch

from .mixers.base import Mixer
from .objective import Batch, LocalObjective
from .regularizers import Regularizer

_CHUNK = 256


def _accuracy_rows(
    objective: LocalObjective, X: torch.Tensor, x: torch.Tensor, y: torch.Tensor
) -> torch.Tensor:
    """Per-row test metric: accuracy (classification) or mean squared error, chunked over rows."""
    out = []
    for start in range(0, X.shape[0], _CHUNK):
        Xc = X[start : start + _CHUNK]
        pred = objective.forward(Xc, x.unsqueeze(0).expand(Xc.shape[0], *x.shape), training=False)
        if y.dtype == torch.int64:
            out.append((pred.argmax(-1) == y).to(X.dtype).mean(-1))
        else:
            out.append(((pred.squeeze(-1) - y) ** 2).mean(-1))
    return torch.cat(out)


@torch.no_grad()
def evaluate(
    objective: LocalObjective,
    mixer: Mixer,
    X: torch.Tensor,
    reg: Regularizer,
    test: tuple[torch.Tensor, torch.Tensor] | None,
) -> dict[str, float]:
    """F(x_bar), ||grad F(x_bar)||, accuracies, consensus error, as plain floats.

    ``grad_norm`` is the norm of the minimum-norm subgradient of F at x_bar
    (the gradient norm when r is smooth).
    """
    n = mixer.n_total
    x_bar = mixer.global_sum(X) / n
    Xb = x_bar.unsqueeze(0).expand_as(X).contiguous()
    shards = objective.shards
    full = Batch(*shards.full_batch())
    G, losses = objective.gradient(Xb, full, training=False)
    # Sums over an agent's parameters go through row_sum: a stage process holds some columns only.
    row = objective.row_sum
    F = float(mixer.global_sum(losses.unsqueeze(1))[0]) / n + float(
        row(reg.value(x_bar.unsqueeze(0)).unsqueeze(1))[0, 0]
    )
    grad = mixer.global_sum(G) / n
    residual = reg.subgradient_residual(x_bar.unsqueeze(0), grad.unsqueeze(0)).unsqueeze(1)
    deviation = row(((X - x_bar) ** 2).sum(1, keepdim=True))
    metrics = {
        "loss": F,
        "grad_norm": float(row(residual**2)[0, 0]) ** 0.5,
        "consensus_error": float(mixer.global_sum(deviation)[0]) / n,
    }
    classify = shards.y.dtype == torch.int64
    if classify:
        pred = objective.forward(Xb, shards.X, training=False).argmax(-1)
        correct = ((pred == shards.y) & shards.mask).sum(1, keepdim=True).to(X.dtype)
        metrics["train_accuracy"] = float(mixer.global_sum(correct)[0]) / shards.total
    if test is not None:
        key = "test_accuracy" if classify else "test_mse"
        metrics[key] = float(_accuracy_rows(objective, x_bar.unsqueeze(0), *test)[0])
        per_agent = _accuracy_rows(objective, X, *test)
        metrics[f"agents_{key}"] = float(mixer.global_sum(per_agent.unsqueeze(1))[0]) / n
    return metrics
