"""Cutting models into stages: balance, split points, protocols, and every refusal."""

from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from consensus import ConfigError
from consensus.layerparallel import layer_parallel, layers_of, split_model
from consensus.layerparallel.split import _balanced_cuts
from consensus.models import MLP, LinearModel, SmallResNet


def _largest(sizes: list[int], cuts: list[int]) -> int:
    bounds = [0, *cuts, len(sizes)]
    return max(sum(sizes[a:b]) for a, b in itertools.pairwise(bounds))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 500), min_size=1, max_size=9), st.integers(1, 9))
def test_balanced_cuts_minimize_the_largest_stage(sizes: list[int], stages: int) -> None:
    stages = min(stages, len(sizes))
    cuts = _balanced_cuts(sizes, stages)
    assert len(cuts) == stages - 1 and cuts == sorted(set(cuts))
    assert all(0 < c < len(sizes) for c in cuts)
    best = min(
        _largest(sizes, list(c)) for c in itertools.combinations(range(1, len(sizes)), stages - 1)
    )
    assert _largest(sizes, cuts) == best


def test_stage_columns_tile_the_layout_in_order() -> None:
    model = SmallResNet((1, 8, 8), 10, depth=4)
    split = split_model(model, 3)
    cols = [s.cols for s in split.stages]
    assert cols[0].start == 0 and cols[-1].stop == split.layout.dim
    assert all(a.stop == b.start for a, b in itertools.pairwise(cols))
    assert sum(len(names) for names in split.layer_names()) == 6  # stem, 4 blocks, head
    X = torch.randn(2, split.layout.dim)
    full = split.layout.views(X)
    for stage in split.stages:  # a stage's own views are the same tensors as the whole model's
        for name, view in stage.layout.views(X[:, stage.cols]).items():
            assert torch.equal(view, full[name])


def test_explicit_split_points() -> None:
    model = MLP(8, 2, hidden=(8, 8, 8, 8))
    split = split_model(model, 3, [1, 4])
    assert split.layer_names() == [["layers.0"], ["layers.1", "layers.2", "layers.3"], ["layers.4"]]
    assert split.cut_points == [1, 4]
    plan = layer_parallel(model, 1, "pipeline", "2,3")
    assert plan is not None and plan.split.cut_points == [2, 3]


@pytest.mark.parametrize(
    ("stages", "points", "message"),
    [
        (3, [3, 2], "not increasing"),
        (3, [2, 2], "not increasing"),
        (2, [0], "out of range"),
        (2, [5], "out of range"),
        (3, [2], "give 2 points"),
        (9, None, "only 5 layers"),
    ],
)
def test_bad_splits_are_one_line_errors(
    stages: int, points: list[int] | None, message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        split_model(MLP(8, 2, hidden=(8, 8, 8, 8)), stages, points)
    assert "\n" not in str(err.value)


def test_bad_split_point_text() -> None:
    with pytest.raises(ConfigError, match="comma-separated"):
        layer_parallel(MLP(8, 2, hidden=(8, 8)), 2, "pipeline", "1;2")


def test_a_linear_model_has_one_layer() -> None:
    with pytest.raises(ConfigError, match="only 1 layers"):
        split_model(LinearModel(4, 2), 2)


def test_parameters_shared_across_stages_are_refused() -> None:
    shared = nn.Linear(6, 6)
    model = nn.Sequential(shared, nn.ReLU(), shared, nn.ReLU(), nn.Linear(6, 2))
    with pytest.raises(ConfigError, match="used by stages 0 and 1"):
        split_model(model, 2, [1])


def test_a_module_without_layers_cannot_be_split() -> None:
    class Opaque(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.b(self.a(x))

    with pytest.raises(ConfigError, match="concord_layers"):
        split_model(Opaque(), 2)


def test_the_concord_layers_protocol() -> None:
    class Declared(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.act, self.b = nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.b(self.act(self.a(x)))

        def concord_layers(self) -> list[nn.Module]:
            return [self.a, self.act, self.b]

    model = Declared()
    split = split_model(model, 2)
    assert split.layer_names() == [["a"], ["b"]]
    X = split.layout.flatten(model).unsqueeze(0)
    x = torch.randn(1, 3, 4)
    h = x
    for stage in split.stages:
        h = stage.forward(stage.layout.views(X[:, stage.cols]), h)
    torch.testing.assert_close(h[0], model(x[0]))


def test_parameter_free_layers_join_their_neighbours() -> None:
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2), nn.Softmax(-1))
    assert [layer.name for layer in layers_of(model)] == ["1", "3"]
