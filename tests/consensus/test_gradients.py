"""Hand-written stacked backward passes and closed-form loss gradients agree with autograd."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import consensus
from consensus.data import make_shards, partition
from consensus.losses import LOSSES, Loss, resolve_loss
from consensus.models import MLP, LinearModel, ParamLayout, stacked_gradient
from consensus.objective import Batch, LocalObjective

WINE = consensus.load_dataset("wine")
DIABETES = consensus.load_dataset("diabetes")


def _objective(module: nn.Module, loss: Loss, data: consensus.data.Dataset) -> LocalObjective:
    parts = partition(data.y_train, 5, "iid", 0)
    shards = make_shards(data, parts, np.arange(5), dtype=torch.float64)
    return LocalObjective(module.double(), loss, shards, batch_size=7, seed=3)


def _autograd_gradient(objective: LocalObjective, X: torch.Tensor, batch: Batch) -> torch.Tensor:
    """The reference: autograd through the stacked forward and the per-sample loss."""
    Xg = X.detach().requires_grad_(True)
    losses = (objective.loss(objective.forward(Xg, batch.x), batch.y) * batch.w).sum(-1)
    (G,) = torch.autograd.grad(losses.sum(), Xg)
    return G


@pytest.mark.parametrize(
    ("hidden", "activation"),
    [((), "relu"), ((6,), "relu"), ((5, 4), "tanh"), ((3,), "sigmoid"), ((8, 8, 8), "relu")],
)
@pytest.mark.parametrize("full_batch", [False, True])
def test_mlp_backward_by_hand_matches_autograd(
    hidden: tuple[int, ...], activation: str, full_batch: bool
) -> None:
    torch.manual_seed(1)
    objective = _objective(
        MLP(WINE.num_features, WINE.num_classes, hidden=hidden, activation=activation),
        LOSSES["cross_entropy"],
        WINE,
    )
    assert objective.gradient_fn is not None
    X = torch.randn(5, objective.layout.dim, dtype=torch.float64)
    batch = Batch(*objective.shards.full_batch()) if full_batch else objective.batch(4)
    G, losses = objective.gradient(X, batch)
    torch.testing.assert_close(G, _autograd_gradient(objective, X, batch), rtol=1e-10, atol=1e-12)
    expected = (objective.loss(objective.forward(X, batch.x), batch.y) * batch.w).sum(-1)
    torch.testing.assert_close(losses, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("loss", "data"), [("cross_entropy", WINE), ("mse", DIABETES)])
def test_linear_model_backward_by_hand_matches_autograd(loss: str, data) -> None:  # type: ignore[no-untyped-def]
    torch.manual_seed(2)
    objective = _objective(LinearModel(data.num_features, data.output_dim), LOSSES[loss], data)
    X = torch.randn(5, objective.layout.dim, dtype=torch.float64)
    batch = objective.batch(0)
    G, _ = objective.gradient(X, batch)
    torch.testing.assert_close(G, _autograd_gradient(objective, X, batch), rtol=1e-10, atol=1e-12)


def test_a_wrapped_loss_goes_through_autograd_in_the_outputs() -> None:
    torch.manual_seed(3)
    loss = Loss.wrap(nn.HuberLoss(delta=0.5))
    objective = _objective(MLP(DIABETES.num_features, 1, hidden=(4,)), loss, DIABETES)
    X = torch.randn(5, objective.layout.dim, dtype=torch.float64)
    batch = objective.batch(1)
    G, _ = objective.gradient(X, batch)
    torch.testing.assert_close(G, _autograd_gradient(objective, X, batch), rtol=1e-10, atol=1e-12)


def test_user_modules_keep_autograd() -> None:
    assert stacked_gradient(nn.Sequential(nn.Linear(3, 2))) is None
    assert stacked_gradient(MLP(3, 2)) is not None


@pytest.mark.parametrize("classes", [2, 3, 10, 17])
def test_closed_form_cross_entropy_matches_torch(classes: int) -> None:
    torch.manual_seed(classes)
    out = torch.randn(4, 9, classes, dtype=torch.float64) * 5
    y = torch.randint(0, classes, (4, 9))
    w = torch.rand(4, 9, dtype=torch.float64)
    reference = F.cross_entropy(out.reshape(-1, classes), y.reshape(-1), reduction="none")
    torch.testing.assert_close(LOSSES["cross_entropy"](out, y), reference.view(4, 9))
    o = out.clone().requires_grad_(True)
    expected = (
        F.cross_entropy(o.reshape(-1, classes), y.reshape(-1), reduction="none").view(4, 9) * w
    ).sum(-1)
    (grad,) = torch.autograd.grad(expected.sum(), o)
    losses, got = LOSSES["cross_entropy"].value_and_grad(out, y, w)
    torch.testing.assert_close(losses, expected.detach())
    torch.testing.assert_close(got, grad)


def test_closed_form_cross_entropy_is_stable_for_huge_logits() -> None:
    out = torch.tensor([[[1e4, -1e4, 0.0]]])
    losses, grad = LOSSES["cross_entropy"].value_and_grad(
        out, torch.tensor([[1]]), torch.ones(1, 1)
    )
    assert torch.isfinite(losses).all() and torch.isfinite(grad).all()
    assert float(losses[0]) == pytest.approx(2e4)


def test_closed_form_squared_error_matches_autograd() -> None:
    torch.manual_seed(0)
    out = torch.randn(3, 6, 1, dtype=torch.float64)
    y = torch.randn(3, 6, dtype=torch.float64)
    w = torch.rand(3, 6, dtype=torch.float64)
    reference = Loss("mse", LOSSES["mse"].per_sample)  # no closed form: autograd
    for a, b in zip(
        LOSSES["mse"].value_and_grad(out, y, w), reference.value_and_grad(out, y, w), strict=True
    ):
        torch.testing.assert_close(a, b)


def test_wrapped_loss_must_be_per_sample() -> None:
    loss = Loss.wrap(lambda out, y: F.cross_entropy(out, y))  # mean reduction: one value
    with pytest.raises(consensus.ConfigError, match="one per sample"):
        loss(torch.randn(2, 3, 4), torch.zeros(2, 3, dtype=torch.int64))


def test_resolve_loss_errors_name_the_fix() -> None:
    with pytest.raises(consensus.ConfigError, match="known: cross_entropy, mse"):
        resolve_loss("hinge", "classification")
    with pytest.raises(consensus.ConfigError, match="use loss mse"):
        resolve_loss("cross_entropy", "regression", "diabetes")
    with pytest.raises(consensus.ConfigError, match="use loss cross_entropy"):
        resolve_loss("mse", "classification", "wine")
    assert resolve_loss(None, "regression") is LOSSES["mse"]


def test_train_accepts_a_torch_loss() -> None:
    result = consensus.train(
        "ring",
        "gradient_tracking",
        agents=4,
        dataset="wine",
        model="logistic",
        loss=nn.CrossEntropyLoss(label_smoothing=0.1),
        rounds=40,
        lr=0.2,
        eval_every=40,
    )
    assert result.final["test_accuracy"] > 0.85


def test_builtin_models_layouts_unchanged() -> None:
    """The hand-written backward relies on the layout of nn.Linear parameters."""
    layout = ParamLayout.of(MLP(4, 3, hidden=(5,)))
    assert layout.names == ("layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias")
