"""Stacked models compute, for every agent, what that agent's own nn.Module computes."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import consensus
from consensus.models import MODELS, ParamLayout, build_model, stacked_forward

DIGITS = consensus.load_dataset("digits")


def _per_agent_outputs(module: nn.Module, X: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    layout = ParamLayout.of(module)
    return torch.stack([layout.load(module, X[i])(x[i]) for i in range(X.shape[0])])


@pytest.mark.parametrize("name", sorted(MODELS))
def test_builtin_stacked_forward_matches_each_module(name: str) -> None:
    torch.manual_seed(0)
    module = build_model(name, DIGITS).double()
    layout = ParamLayout.of(module)
    X = torch.randn(4, layout.dim, dtype=torch.float64) * 0.3
    x = torch.randn(4, 5, 64, dtype=torch.float64)
    got = stacked_forward(module)(layout.views(X), x)
    torch.testing.assert_close(got, _per_agent_outputs(module, X, x))


@pytest.mark.parametrize(
    "spec",
    [
        "mlp:hidden=8-8-8,act=tanh",
        "mlp:hidden=5,act=sigmoid",
        "cnn:channels=4",
        "cnn:channels=3,pooled=2",
        "resnet:depth=2,channels=4",
    ],
)
def test_model_specs_keep_stacked_forward_consistent(spec: str) -> None:
    torch.manual_seed(0)
    module = build_model(spec, DIGITS).double()
    layout = ParamLayout.of(module)
    X = torch.randn(3, layout.dim, dtype=torch.float64) * 0.3
    x = torch.randn(3, 5, 64, dtype=torch.float64)
    got = stacked_forward(module)(layout.views(X), x)
    torch.testing.assert_close(got, _per_agent_outputs(module, X, x))


def test_cnn_pools_only_feature_maps_larger_than_pooled() -> None:
    """On images larger than digits the head's input stays small; the grouped path agrees."""
    from consensus.models import SmallCNN

    module = SmallCNN((3, 12, 10), 4, channels=2, pooled=4).double()
    assert module.head.in_features == 2 * 2 * 4 * 4
    layout = ParamLayout.of(module)
    X = torch.randn(2, layout.dim, dtype=torch.float64) * 0.3
    x = torch.randn(2, 3, 3 * 12 * 10, dtype=torch.float64)
    torch.testing.assert_close(
        stacked_forward(module)(layout.views(X), x), _per_agent_outputs(module, X, x)
    )


def test_any_module_runs_through_vmap() -> None:
    module = nn.Sequential(nn.Linear(6, 5), nn.LayerNorm(5), nn.GELU(), nn.Linear(5, 3)).double()
    layout = ParamLayout.of(module)
    X = torch.randn(3, layout.dim, dtype=torch.float64)
    x = torch.randn(3, 4, 6, dtype=torch.float64)
    torch.testing.assert_close(
        stacked_forward(module)(layout.views(X), x), _per_agent_outputs(module, X, x)
    )


def test_a_user_module_trains() -> None:
    module = nn.Sequential(nn.Linear(13, 16), nn.LayerNorm(16), nn.Tanh(), nn.Linear(16, 3))
    result = consensus.train(
        "ring",
        "gradient_tracking",
        agents=4,
        dataset="wine",
        model=module,
        rounds=60,
        lr=0.2,
        eval_every=60,
    )
    assert result.final["test_accuracy"] > 0.85
    assert isinstance(result.model, nn.Sequential)


def test_batchnorm_is_refused_with_a_clear_message() -> None:
    module = nn.Sequential(nn.Linear(13, 8), nn.BatchNorm1d(8), nn.Linear(8, 3))
    with pytest.raises(consensus.ConfigError, match="GroupNorm or LayerNorm") as info:
        consensus.train("ring", "dsgd", agents=4, dataset="wine", model=module, rounds=1)
    assert "\n" not in str(info.value)


def test_layout_round_trip() -> None:
    module = build_model("cnn", DIGITS)
    layout = ParamLayout.of(module)
    x = layout.flatten(module)
    assert x.shape == (layout.dim,)
    other = build_model("cnn", DIGITS)
    torch.testing.assert_close(layout.flatten(layout.load(other, x)), x)
    assert len(layout.blocks()) == 3


def test_average_model_is_a_loadable_state_dict(tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = consensus.train(
        "ring", "next", agents=4, dataset="digits", model="cnn", rounds=3, eval_every=3, tau=2.0
    )
    path = tmp_path / "model.pt"
    torch.save(result.model.state_dict(), path)
    state = torch.load(path, weights_only=True)
    assert set(state) == set(result.model.state_dict())
    torch.testing.assert_close(ParamLayout.of(result.model).flatten(result.model), result.X.mean(0))


def test_metrics_use_the_model_in_eval_mode() -> None:
    """With dropout, evaluating twice gives the same numbers: those of the module in eval mode."""
    import numpy as np

    import topologies
    from consensus.algorithms import make
    from consensus.setup import make_problem

    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(13, 32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, 3))
    problem = make_problem("wine", module, agents=4)
    schedule = topologies.get("ring", 4)
    engine = consensus.build_engine(
        schedule, make("dsgd", lr=0.1), problem, agent_ids=np.arange(4),
        mixer=consensus.InProcessMixer(schedule), batch_size=8, reg=consensus.Regularizer(),
        global_every=None, seed=0, dtype=torch.float32, device="cpu", init="independent",
    )  # fmt: skip
    engine.run(5)
    first, second = engine.metrics(), engine.metrics()
    assert first == second
    x_test, y_test = engine.test  # type: ignore[misc]
    assert module.training  # the user's module is left as it was
    reference = ParamLayout.of(module).load(copy.deepcopy(module), engine.average()).eval()
    with torch.no_grad():
        accuracy = float((reference(x_test).argmax(-1) == y_test).float().mean())
    assert first["test_accuracy"] == pytest.approx(accuracy, abs=1e-6)


def test_cnn_defaults_train_well_on_digits() -> None:
    """The built-in CNN with its defaults, NEXT on a ring of 8: it reached 0.758 with global average pooling."""
    result = consensus.train(
        "ring", "next", agents=8, dataset="digits", model="cnn", rounds=200, eval_every=200
    )
    assert result.final["test_accuracy"] >= 0.93
